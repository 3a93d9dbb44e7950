import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { wireV1 } from '@x3dh-iot/protocol';
import {
  closeV1Device, connectV1Device, createTestDatabase, requestJson, startMosquitto, startServer,
} from '@x3dh-iot/testkit';
import { initialMessage, registerIdentity, uniqueName } from './support/v1_fixtures.js';

const T = wireV1.V1_TOPICS;

test('SIGTERM: requests in flight are answered and committed before the server exits', { timeout: 90_000 }, async () => {
  const database = await createTestDatabase();
  const broker = await startMosquitto({ tls: true });
  const server = await startServer({ args: [
    '--database-url', database.url, '--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile, '--http-port', '0',
  ] });
  const device = await connectV1Device(broker.url, { ca: broker.certificates!.ca });
  const blocker = new pg.Client({ connectionString: database.url });
  try {
    const recipient = uniqueName('busy');
    await requestJson(device, T.registerIdentity, registerIdentity(recipient));

    // Hold the recipient's row, so that the initial messages to it wait inside the server's transaction.
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM users WHERE username = $1 FOR UPDATE', [recipient]);
    const replies = Promise.all(Array.from({ length: 10 }, (_, i) =>
      requestJson(device, T.initialMessage, initialMessage(recipient, `sender${i}`))));
    const waiting = async () => Number((await blocker.query(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")).rows[0].n);
    while (await waiting() === 0) await new Promise((resolve) => setTimeout(resolve, 20));

    server.process.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(server.process.exitCode, null, 'the server waits for its requests in flight');
    await blocker.query('COMMIT');

    assert.deepEqual(await replies, Array.from({ length: 10 }, () => ({ status: 'delivered' })));
    assert.equal(await server.exited, 0);
    const { rows } = await blocker.query(
      'SELECT count(*)::int AS n FROM initial_messages m JOIN users u ON u.id = m.recipient_id WHERE u.username = $1', [recipient]);
    assert.equal(rows[0].n, 10);
  } finally {
    await blocker.end().catch(() => {});
    await closeV1Device(device);
    await server.stop();
    await broker.stop();
    await database.drop();
  }
});
