import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { MqttClient } from 'mqtt';
import { freePort } from '@x3dh-iot/testkit';
import { connectMqtt } from '@x3dh-iot/transport';
import { cli } from './operator_cli.js';
import { handBundleToMosquitto, hasMosquitto, startMosquitto, type RunningMosquitto } from './mosquitto_process.js';

const NOT_AUTHORIZED = 0x87;

/** Debian's Mosquitto 2.0.11 from a bundle made by the CLI with --ws-port: browsers' MQTT over WebSocket. */
describe('Mosquitto WebSocket listener from the CLI', { skip: hasMosquitto ? false : 'mosquitto is not installed' }, () => {
  let dir: string;
  let mosquitto: RunningMosquitto;
  let wsPort: number;
  let ca: string;
  const clients: MqttClient[] = [];
  const identity = async (device: string) => ({
    cert: await readFile(join(dir, 'pki', 'devices', `${device}.crt`), 'utf8'),
    key: await readFile(join(dir, 'pki', 'devices', `${device}.key`), 'utf8'),
  });
  const connect = async (options: { cert?: string; key?: string; clientId?: string }) => {
    const client = await connectMqtt({ url: `wss://localhost:${wsPort}/mqtt`, ca, ...options, connectTimeoutMs: 5000, reconnectPeriodMs: 0 });
    clients.push(client);
    return client;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-mosq-ws-'));
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'broker', '-d', dir, '--dns', 'localhost', '--ip', '127.0.0.1');
    await cli('pki', 'server-client', '-d', dir);
    await cli('pki', 'device', 'alice', 'bob', '-d', dir);
    const [port, serverPort] = [await freePort(), await freePort()];
    wsPort = await freePort();
    const bundle = join(dir, 'brokers', 'mosquitto');
    await cli('broker', 'mosquitto', '-d', dir, '--install-dir', bundle, '--persistence-dir', join(dir, 'data'), '--bind', '127.0.0.1',
      '--port', String(port), '--server-port', String(serverPort), '--ws-port', String(wsPort));
    await handBundleToMosquitto(bundle, [dir, join(dir, 'brokers'), bundle], join(dir, 'data'));
    mosquitto = await startMosquitto(join(bundle, 'mosquitto.conf'), [port, serverPort, wsPort]);
    ca = await readFile(join(dir, 'pki', 'ca.crt'), 'utf8');
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await mosquitto?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies the per-device topic rules to a device over wss://, by its certificate', async () => {
    const alice = await connect({ ...(await identity('alice')), clientId: 'alice' });
    await alice.publishAsync('x3dh/v2/req/alice/bundle.fetch', 'x', { qos: 1 });
    await assert.rejects(alice.publishAsync('x3dh/v2/req/bob/bundle.fetch', 'x', { qos: 1 }), (error: { code?: number }) => error.code === NOT_AUTHORIZED);
    const granted = await alice.subscribeAsync(['x3dh/v2/resp/alice', 'x3dh/v2/resp/bob'], { qos: 1 })
      .then((grants) => grants.map((grant) => grant.qos), (error: { packet?: { granted?: number[] } }) => error.packet?.granted);
    assert.deepEqual(granted, [1, NOT_AUTHORIZED]);
  });

  it("takes the certificate's name as the client id: alice cannot claim bob's session", async () => {
    const impostor = await connect({ ...(await identity('alice')), clientId: 'bob' });
    assert.match(mosquitto.output(), /as alice \(p5/);
    await assert.rejects(impostor.publishAsync('x3dh/v2/req/bob/bundle.fetch', 'x', { qos: 1 }), (error: { code?: number }) => error.code === NOT_AUTHORIZED);
  });

  it('refuses a client without a certificate', async () => {
    await assert.rejects(connect({ clientId: 'alice' }), /certificate required|closed|cannot connect/);
  });

  it('attack: a downgrade to TLS 1.2, which Mosquitto 2.0.11 accepts on WebSocket listeners despite tls_version, is refused', async () => {
    // With a valid certificate: only the version is wrong.
    const alice = await identity('alice');
    const tls12 = new Promise<string>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: wsPort, ca, ...alice, servername: 'localhost', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, () => {
        socket.destroy();
        resolve('TLS 1.2 accepted');
      });
      socket.once('error', (error) => resolve(error.message));
    });
    assert.doesNotMatch(await tls12, /accepted/);
  });
});
