import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeBase64url, generateKeyPair } from '@x3dh-iot/protocol';
import { OperatorError } from '../src/admin/operator_error.js';
import {
  callOperatorSocket, OperatorSocketUnavailableError, operatorSocketPath, serveOperatorSocket, type OperatorSocket,
} from '../src/admin/operator_socket.js';
import { createLogger } from '../src/ops/logger.js';
import { migrate } from '../src/storage/migrate.js';
import { EmbeddedDatabase } from '../src/storage/embedded_database.js';

/** Sends raw bytes to the socket and returns everything it answers before closing. */
function exchange(socketPath: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = net.connect(socketPath, () => connection.write(bytes));
    let received = '';
    connection.setEncoding('utf8');
    connection.on('data', (chunk: string) => { received += chunk; });
    connection.on('end', () => resolve(received));
    connection.on('error', reject);
  });
}

describe('operator socket of the embedded store', () => {
  let dataDir: string;
  let database: EmbeddedDatabase;
  let socket: OperatorSocket;
  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-operator-socket-'));
    database = await EmbeddedDatabase.open(dataDir, { poolSize: 1, connectTimeoutMs: 10_000 }, createLogger('silent'));
    await migrate(database);
    // A socket file left by a server that was killed.
    fs.writeFileSync(operatorSocketPath(dataDir), '');
    socket = await serveOperatorSocket(dataDir, database, createLogger('silent'));
  });
  after(async () => {
    await socket.close();
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers bad requests with a clear error and keeps serving', async () => {
    const socketPath = operatorSocketPath(dataDir);
    assert.deepEqual(JSON.parse(await exchange(socketPath, 'not json\n')), { error: 'operator request is not JSON' });
    assert.deepEqual(JSON.parse(await exchange(socketPath, '{"operation":"token.drop"}\n')),
      { error: 'unknown operator operation "token.drop"' });
    assert.deepEqual(JSON.parse(await exchange(socketPath, '{"operation":"constructor"}\n')),
      { error: 'unknown operator operation "constructor"' });
    const invalid = JSON.parse(await exchange(socketPath, '{"operation":"token.revoke","input":{"id":"1; DROP TABLE users"}}\n')) as
      { error: string; operator: boolean };
    assert.equal(invalid.operator, true);
    assert.match(invalid.error, /^token\.revoke: id: /);
    assert.deepEqual(JSON.parse(await exchange(socketPath, `${'x'.repeat(70_000)}\n`)), { error: 'operator request too large' });
    assert.deepEqual(await callOperatorSocket(dataDir, 'token.list', {}), []);
  });

  it('closes at once although a client connected and sent nothing', { timeout: 20_000 }, async () => {
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-operator-idle-'));
    const other = await serveOperatorSocket(otherDir, database, createLogger('silent'));
    const idle = net.connect(operatorSocketPath(otherDir));
    await new Promise((resolve) => idle.once('connect', resolve));
    const ended = new Promise((resolve) => idle.once('close', resolve));
    const started = Date.now();
    await other.close();
    await ended;
    assert.ok(Date.now() - started < 5_000, `closed in ${Date.now() - started} ms`);
    assert.ok(!fs.existsSync(operatorSocketPath(otherDir)));
    fs.rmSync(otherDir, { recursive: true, force: true });
  });

  it('carries the refusals of the operations as operator errors', async () => {
    await assert.rejects(callOperatorSocket(dataDir, 'token.revoke', { id: '42' }),
      (error: Error) => error instanceof OperatorError && error.message === 'no enrolment token 42');
    const key = encodeBase64url(generateKeyPair().publicKey);
    await assert.rejects(callOperatorSocket(dataDir, 'device.set-identity', { device: 'nobody', identityKey: key }),
      (error: Error) => error instanceof OperatorError && error.message === 'no device named nobody');
    await assert.rejects(callOperatorSocket(dataDir, 'device.set-identity', { device: 'nobody', identityKey: 'A'.repeat(43) }),
      (error: Error) => error instanceof OperatorError && /^device\.set-identity: identityKey: X25519 public key has small order/.test(error.message));
  });

  it('refuses a data directory whose socket path is too long for a Unix socket, and puts no socket elsewhere', async () => {
    // A directory path of 100 bytes: the socket's path is longer than any system takes, and one cut
    // short to fit would land in the directory itself.
    const stem = path.join(os.tmpdir(), 'x3dh-operator-');
    const longDir = fs.mkdtempSync(`${stem}${'d'.repeat(Math.max(1, 93 - stem.length))}-`);
    const tooLong = /x3dh-server\.sock is \d+ bytes, more than the 10\d a Unix socket path may have \(use a shorter --data-dir path\)$/;
    try {
      await assert.rejects(serveOperatorSocket(longDir, database, createLogger('silent')), (error: Error) => tooLong.test(error.message));
      assert.deepEqual(fs.readdirSync(longDir), []);
      await assert.rejects(callOperatorSocket(longDir, 'token.list', {}),
        (error: Error) => error instanceof OperatorSocketUnavailableError && tooLong.test(error.reason));
    } finally {
      fs.rmSync(longDir, { recursive: true, force: true });
    }
  });
});
