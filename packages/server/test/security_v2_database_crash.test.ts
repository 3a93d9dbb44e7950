import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { encodeBase64url as b64, generateKeyPair } from '@x3dh-iot/protocol';
import {
  enrolV2Device, freePort, preKeyBatch, startPrivatePostgres, startServer, V2TestDevice,
  type PrivatePostgres, type ServerProcess, type V2Response,
} from '@x3dh-iot/testkit';
import { uniqueName } from './support/v2_environment.js';

/**
 * security-v2 item 16, the database's part: PostgreSQL (a private cluster, fsync on, as in
 * production) is killed with SIGKILL right after the last acknowledged v2 request and restarted;
 * the server, still running, serves again and nothing acknowledged is lost.
 */

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

/** Asks until the server answers other than `unavailable` (it does while the database recovers). */
async function requestWhenAvailable(device: V2TestDevice, operation: string, body: unknown = {}): Promise<V2Response> {
  for (let attempt = 0; ; attempt++) {
    const response = await device.request(operation, body);
    if (response.ok || response.error.code !== 'unavailable' || attempt >= 100) return response;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('security-v2 item 16 on a PostgreSQL crash', { timeout: 240_000 }, () => {
  let database: PrivatePostgres;
  let server: ServerProcess;
  let brokerUrl: string;
  const devices: V2TestDevice[] = [];

  before(async () => {
    database = await startPrivatePostgres();
    const port = await freePort();
    brokerUrl = `mqtt://127.0.0.1:${port}`;
    server = await startServer({
      v1: false,
      args: ['--database-url', database.url, '--open-enrolment', 'yes', '--embedded-broker-port', String(port), '--http-port', '0'],
    });
  });
  after(async () => {
    await Promise.all(devices.map((d) => d.close().catch(() => undefined)));
    await server?.stop();
    await database?.destroy();
  });

  test('security-v2 item 16: acknowledged v2 requests survive kill -9 of PostgreSQL', async () => {
    const aliceKey = generateKeyPair();
    const bobKey = generateKeyPair();
    const alice = await enrolV2Device({ name: uniqueName('alice'), identity: aliceKey, brokerUrl, oneTimePreKeys: 5 });
    const bob = await enrolV2Device({ name: uniqueName('bob'), identity: bobKey, brokerUrl, oneTimePreKeys: 5 });
    devices.push(alice, bob);
    const fetched = result(await alice.request('bundle.fetch', { device: bob.name }));
    const sent = [];
    for (const n of [1, 2, 3]) {
      sent.push(result(await alice.request('message.send', {
        to: bob.name, id: randomBytes(16).toString('base64url'), type: 'session', envelope: b64(Buffer.from(`m${n}`)),
      })));
    }
    result(await bob.request('mailbox.ack', { ids: [sent[0]!.message_id] }));
    result(await alice.request('prekeys.upload', preKeyBatch({ name: alice.name, identity: aliceKey }, { signedPreKeyId: 2, firstOneTimePreKeyId: 6, count: 3 }).body));

    // Right after the last acknowledgement: no checkpoint, no shutdown, only what the WAL holds.
    await database.crash();
    const during = await alice.request('prekeys.status');
    assert.ok(!during.ok && during.error.code === 'unavailable', `while the database is down: ${JSON.stringify(during)}`);
    await database.restart();

    const aliceStatus = result(await requestWhenAvailable(alice, 'prekeys.status'));
    assert.deepEqual([aliceStatus.one_time_prekeys, aliceStatus.signed_prekey_id, aliceStatus.max_one_time_prekey_id], [8, 2, 8]);
    const bobStatus = result(await requestWhenAvailable(bob, 'prekeys.status'));
    assert.equal(bobStatus.one_time_prekeys, 4, 'the one-time prekey handed out stays handed out');
    assert.ok((fetched.one_time_prekey as { id: number } | undefined) !== undefined);
    const mailbox = result(await requestWhenAvailable(bob, 'mailbox.fetch')).messages as { id: string; envelope: string }[];
    assert.deepEqual(mailbox.map((m) => Buffer.from(m.envelope, 'base64url').toString()), ['m2', 'm3']);
    assert.deepEqual(mailbox.map((m) => m.id), [sent[1]!.message_id, sent[2]!.message_id]);
  });
});
