import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enrolV2Device, type V2Response, type V2TestDevice, TEST_DEPLOYMENT_ID } from '@x3dh-iot/testkit';
import { createLogger, parseServerConfig, startKeyServer, type KeyServer } from '../src/index.js';
import { StorageCondition } from '../src/ops/storage_condition.js';

/**
 * A real full file system under the embedded store: a small tmpfs mounted for the test (root only),
 * filled up while the server runs, then emptied again.
 */
const root = process.getuid?.() === 0;
const MOUNT_SIZE = '160m';

function fillUp(dir: string): string {
  const filler = path.join(dir, 'filler');
  const chunk = Buffer.alloc(1024 * 1024);
  const fd = fs.openSync(filler, 'w');
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
  // The last partial blocks too.
  try {
    for (;;) fs.appendFileSync(filler, Buffer.alloc(512));
  } catch { /* full */ }
  return filler;
}

const readyz = async (port: number) => {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: response.status, body: await response.text() };
};

describe('embedded store on a full disk', { skip: root ? false : 'needs root to mount a tmpfs', timeout: 180_000 }, () => {
  const mount = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-full-'));
  let mounted = false;
  let server: KeyServer;
  let alice: V2TestDevice;
  let bob: V2TestDevice;
  before(async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${MOUNT_SIZE},mode=0700`, 'tmpfs', mount]);
    mounted = true;
    server = await startKeyServer(parseServerConfig(['--deployment-id', TEST_DEPLOYMENT_ID,
      '--data-dir', path.join(mount, 'data'), '--embedded-broker-port', '0', '--http-port', '0', '--open-enrolment',
    ]), createLogger(process.env.X3DH_TEST_LOG_LEVEL ?? 'fatal'));
    alice = await enrolV2Device({ brokerUrl: server.brokerUrl, name: 'alice' });
    bob = await enrolV2Device({ brokerUrl: server.brokerUrl, name: 'bob', oneTimePreKeys: 20 });
  });
  after(async () => {
    await Promise.all([alice?.close(), bob?.close()].map((closing) => closing?.catch(() => undefined)));
    await server?.close().catch(() => undefined);
    if (mounted) execFileSync('umount', ['-l', mount]);
    fs.rmSync(mount, { recursive: true, force: true });
  });

  it('attack: a full disk gets retryable answers and an unready server, never internal errors, and service resumes once space is back', async () => {
    const send = (from: V2TestDevice, to: string, size: number) => from.request('message.send', {
      to, id: randomBytes(16).toString('base64url'), type: 'session', envelope: randomBytes(size).toString('base64url'),
    });
    const filler = fillUp(mount);
    const replies: V2Response[] = [];
    // Enough writes to need new pages and log segments.
    for (let i = 0; i < 40; i += 1) replies.push(await send(alice, 'bob', 40_000));
    replies.push(await alice.request('mailbox.fetch', {}), await bob.request('mailbox.fetch', {}), await alice.request('bundle.fetch', { device: 'bob' }));
    const codes = replies.map((reply) => (reply.ok ? 'ok' : reply.error.code));
    assert.ok(!codes.includes('internal'), codes.join(' '));
    const unavailable = replies.filter((reply) => !reply.ok && reply.error.code === 'unavailable');
    assert.ok(unavailable.length > 0, 'the disk filled up');
    for (const reply of unavailable) assert.ok(!reply.ok && (reply.error.retry_after_ms ?? 0) > 0, 'a retry hint');
    const ready = await readyz(server.httpPort);
    assert.equal(ready.status, 503, ready.body);
    assert.match(ready.body, /storage/i);

    fs.rmSync(filler);
    const after = await send(alice, 'bob', 100);
    assert.ok(after.ok, JSON.stringify(after));
  });
});

describe('storage condition', () => {
  it('is reported until the hold passes without another failure', () => {
    let now = 0;
    const condition = new StorageCondition(30_000, () => now);
    assert.equal(condition.problem(), undefined);
    condition.failed('No space left on device');
    now = 29_999;
    assert.equal(condition.problem(), 'No space left on device');
    now = 30_000;
    assert.equal(condition.problem(), undefined);
  });
});
