import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wireV1 } from '@x3dh-iot/protocol';
import {
  closeV1Device, connectV1Device, createTestDatabase, enrolV2Device, requestJson, startMosquitto, startTcpProxy, TEST_DEPLOYMENT_ID,
} from '@x3dh-iot/testkit';
import { createLogger, parseServerConfig, startKeyServer } from '../src/index.js';
import { registerIdentity, uniqueName } from './support/v1_fixtures.js';

const T = wireV1.V1_TOPICS;

test('after the broker restarts, the server reconnects and subscribes again by itself', { timeout: 60_000 }, async () => {
  const database = await createTestDatabase();
  const broker = await startMosquitto({ tls: true });
  const ca = broker.certificates!.ca;
  const server = await startKeyServer(parseServerConfig(['--deployment-id', TEST_DEPLOYMENT_ID,
    '--database-url', database.url, '--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile, '--http-port', '0',
    '--enable-v1',
  ]), createLogger('fatal'));
  try {
    const name = uniqueName('steady');
    const before = await connectV1Device(broker.url, { ca });
    assert.deepEqual(await requestJson(before, T.registerIdentity, registerIdentity(name)), { status: 'created', username: name });
    await closeV1Device(before);

    // The restarted broker keeps no sessions (persistence off): only a new SUBSCRIBE brings requests back.
    await broker.restart();
    const after = await connectV1Device(broker.url, { ca, timeoutMs: 1000 });
    try {
      let reply: unknown;
      const deadline = Date.now() + 20_000;
      while (reply === undefined && Date.now() < deadline) {
        reply = await requestJson(after, T.users).catch(() => undefined);
      }
      assert.deepEqual(reply, { users: [name] });
    } finally {
      await closeV1Device(after);
    }
  } finally {
    await server.close();
    await broker.stop();
    await database.drop();
  }
});

test('attack: requests sent while the server is cut off from the broker for 5 s are all answered after it', { timeout: 90_000 }, async () => {
  const database = await createTestDatabase();
  const broker = await startMosquitto({ tls: true });
  const ca = broker.certificates!.ca;
  // The server reaches the broker through a proxy that the test cuts; devices reach it directly.
  const proxy = await startTcpProxy('127.0.0.1', broker.port);
  const server = await startKeyServer(parseServerConfig(['--deployment-id', TEST_DEPLOYMENT_ID,
    '--database-url', database.url, '--broker-url', `mqtts://127.0.0.1:${proxy.port}`, '--broker-ca', broker.certificates!.caFile,
    '--http-port', '0', '--open-enrolment',
  ]), createLogger('fatal'));
  const devices = await Promise.all(['cut-a', 'cut-b'].map((base) =>
    enrolV2Device({ brokerUrl: broker.url, ca, name: uniqueName(base), oneTimePreKeys: 1, timeoutMs: 60_000 })));
  try {
    proxy.cut();
    const answers = devices.flatMap((device) => Array.from({ length: 10 }, () => device.request('mailbox.fetch', {})));
    await new Promise((resolve) => setTimeout(resolve, 5000));
    proxy.restore();
    const responses = await Promise.allSettled(answers);
    const answered = responses.filter((r) => r.status === 'fulfilled' && r.value.ok).length;
    assert.equal(answered, answers.length, `${answered} of ${answers.length} requests sent during the cut answered`);
  } finally {
    await Promise.all(devices.map((device) => device.close()));
    await server.close();
    await proxy.close();
    await broker.stop();
    await database.drop();
  }
});
