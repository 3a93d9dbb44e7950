import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTcpProxy, type TcpProxy } from '@x3dh-iot/testkit';
import { DeviceError, openDevice } from '../src/index.js';
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

test('a device reconnects after the broker connection drops, and requests made meanwhile complete', async (t) => {
  const { device, connection } = await openDevice({
    storePath: join(tempDir(t), 'device.json'),
    settings: { brokerUrl: `mqtts://127.0.0.1:${proxy.port}`, caFile: server.deviceEnv.X3DH_CA_FILE, timeoutMs: 1500 },
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
