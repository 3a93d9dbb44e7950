import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { wireV1 } from '@x3dh-iot/protocol';
import type { MqttRequester } from '@x3dh-iot/transport';
import {
  closeV1Device, connectV1Device, createTestDatabase, requestJson, startMosquitto, startTcpProxy,
  type MosquittoBroker, type TcpProxy, type TestDatabase,
} from '@x3dh-iot/testkit';
import { createLogger, parseServerConfig, startKeyServer, type KeyServer } from '../src/index.js';
import { registerIdentity, uniqueName } from './support/v1_fixtures.js';

const T = wireV1.V1_TOPICS;
const unavailable = { error: 'Service unavailable, retry later', code: 503 };

let database: TestDatabase;
let proxy: TcpProxy;
let broker: MosquittoBroker;
let server: KeyServer;
let device: MqttRequester;
const readyz = async () => (await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).status;
const healthz = async () => (await fetch(`http://127.0.0.1:${server.httpPort}/healthz`)).status;

before(async () => {
  database = await createTestDatabase();
  const url = new URL(database.url);
  // The server reaches PostgreSQL through a proxy that the test cuts.
  proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
  url.host = `127.0.0.1:${proxy.port}`;
  broker = await startMosquitto({ tls: true });
  server = await startKeyServer(parseServerConfig([
    '--database-url', url.toString(), '--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile,
    '--http-port', '0', '--db-connect-timeout', '500', '--enable-v1',
  ]), createLogger('fatal'));
  device = await connectV1Device(broker.url, { ca: broker.certificates!.ca });
});

after(async () => {
  if (device) await closeV1Device(device);
  await server?.close();
  await proxy?.close();
  await broker?.stop();
  await database?.drop();
});

test('while the database is unreachable, requests get a retryable error; afterwards they succeed', { timeout: 60_000 }, async () => {
  const name = uniqueName('patient');
  assert.equal(await readyz(), 200);
  proxy.cut();
  assert.deepEqual(await requestJson(device, T.registerIdentity, registerIdentity(name)), unavailable);
  assert.deepEqual(await requestJson(device, T.users), unavailable);
  assert.equal(await readyz(), 503);
  assert.equal(await healthz(), 200);

  proxy.restore();
  assert.deepEqual(await requestJson(device, T.registerIdentity, registerIdentity(name)), { status: 'created', username: name });
  assert.deepEqual(await requestJson(device, T.users), { users: [name] });
  assert.equal(await readyz(), 200);
});

test('/metrics reports requests by operation and outcome, latency and the one-time prekey stock', { timeout: 30_000 }, async () => {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  assert.match(text, /^x3dh_requests_total\{operation="registerIdentity",outcome="ok"\} 1$/m);
  assert.match(text, /^x3dh_requests_total\{operation="registerIdentity",outcome="unavailable"\} 1$/m);
  assert.match(text, /^x3dh_request_duration_seconds_count\{operation="users"\} 2$/m);
  assert.match(text, /^x3dh_one_time_prekeys 0$/m);
});
