import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTcpProxy, type TcpProxy } from '@x3dh-iot/testkit';
import { DeviceError, openDevice, openSecureDevice } from '../src/index.js';
import { startMosquittoAndPostgres, type RunningKeyServer } from './support/key_server.js';
import { tempDir } from './support/temp_dir.js';

let server: RunningKeyServer;
let proxy: TcpProxy;
before(async () => {
  server = await startMosquittoAndPostgres();
  proxy = await startTcpProxy('127.0.0.1', Number(new URL(server.deviceEnv.X3DH_BROKER_URL!).port));
});
after(async () => {
  await proxy?.close();
  await server?.stop();
});

test('v1: a device reconnects after the broker connection drops, and requests made meanwhile complete', async (t) => {
  const { device, connection } = await openDevice({
    storePath: join(tempDir(t), 'device.json'),
    settings: {
      brokerUrl: `mqtts://127.0.0.1:${proxy.port}`, caFile: server.deviceEnv.X3DH_CA_FILE, timeoutMs: 1500,
      deploymentId: server.deviceEnv.X3DH_DEPLOYMENT_ID, operatorKey: server.deviceEnv.X3DH_OPERATOR_KEY,
    },
    retries: 3,
  });
  t.after(() => device.close());
  const events: string[] = [];
  connection.on('connection', (state) => events.push(state));
  await device.setUsername('roaming');
  await device.registerIdentity();

  proxy.cut();
  while (!events.includes('offline')) await new Promise((resolve) => setTimeout(resolve, 20));
  const users = device.listUsers();
  setTimeout(() => proxy.restore(), 1000);
  assert.deepEqual(await users, ['roaming']);
  assert.deepEqual(events.slice(0, 2), ['online', 'offline']);
  assert.ok(events.includes('reconnecting') && events.at(-1) === 'online', events.join(' '));

  proxy.cut();
  await assert.rejects(device.listUsers(), (error: unknown) => error instanceof DeviceError && error.kind === 'UNREACHABLE'
    && /no answer from the server to x3dh\/req\/users within 1.5 s \(4 attempts\)/.test(error.message));
  proxy.restore();
});

test('v2: a device reconnects after the broker connection drops; a request made meanwhile is resent unchanged and runs once', async (t) => {
  const connections: string[] = [];
  const device = await openSecureDevice({
    storePath: join(tempDir(t), 'device.json'),
    settings: {
      brokerUrl: `mqtts://127.0.0.1:${proxy.port}`, caFile: server.deviceEnv.X3DH_CA_FILE, timeoutMs: 1500,
      deploymentId: server.deviceEnv.X3DH_DEPLOYMENT_ID, operatorKey: server.deviceEnv.X3DH_OPERATOR_KEY,
    },
    client: { maxAttempts: 4 },
  }, (link) => link.on('connection', (state) => connections.push(state)));
  t.after(() => device.close());
  await device.setUsername('roaming-v2');
  await device.registerIdentity({ token: (await server.issueToken())! });
  await device.publishBundle(3);

  proxy.cut();
  while (!connections.includes('offline')) await new Promise((resolve) => setTimeout(resolve, 20));
  const published = device.publishBundle(2);
  setTimeout(() => proxy.restore(), 1000);
  assert.deepEqual((await published).oneTimePreKeyIds, [3, 4]);
  assert.equal((await device.preKeyStatus()).one_time_prekeys, 5, 'uploaded once although sent more than once');
  assert.ok(connections.includes('reconnecting') && connections.at(-1) === 'online', connections.join(' '));

  proxy.cut();
  await assert.rejects(device.listUsers(), (error: unknown) => error instanceof DeviceError && error.kind === 'UNREACHABLE'
    && /no answer from the server to directory\.list within 1\.5 s \(4 attempts/.test(error.message));
  proxy.restore();
});
