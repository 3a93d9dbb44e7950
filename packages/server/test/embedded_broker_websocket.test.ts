import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { MqttClient } from 'mqtt';
import { createTestCertificates, type TestCertificates } from '@x3dh-iot/testkit';
import { connectMqtt } from '@x3dh-iot/transport';
import { createLogger, parseServerConfig } from '../src/index.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../src/transport/embedded_broker.js';

const NOT_AUTHORIZED = 0x87;
const SERVER = { username: 'x3dh-server-test', password: 'a-fresh-random-password', clientId: 'key-server' };
const log = createLogger(process.env.X3DH_TEST_LOG_LEVEL ?? 'fatal');

/** The embedded broker's WebSocket listener with TLS and client certificates, as browsers reach it. */
describe('embedded broker over wss:// with client certificates', () => {
  let dir: string;
  let certificates: TestCertificates;
  let broker: EmbeddedBroker;
  const clients: MqttClient[] = [];
  const connect = async (device: string | null, clientId: string) => {
    const files = device === null ? {} : { cert: certificates.clients[device]!.cert, key: certificates.clients[device]!.key };
    const client = await connectMqtt({ url: broker.webSocketUrl!, ca: certificates.ca, ...files, clientId, connectTimeoutMs: 5000, reconnectPeriodMs: 0 });
    clients.push(client);
    return client;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-embedded-ws-'));
    certificates = createTestCertificates(dir, ['alice', 'bob']);
    broker = await startEmbeddedBroker({
      host: '127.0.0.1', port: 0, webSocketPort: 0, server: SERVER, allowV1: false,
      tls: { cert: certificates.server.cert, key: certificates.server.key, ca: certificates.ca },
    }, log);
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('listens on its own port, TLS, under /mqtt', () => {
    assert.match(broker.webSocketUrl!, /^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    assert.notEqual(new URL(broker.webSocketUrl!).port, String(broker.port));
  });

  it("applies the device's topic rules, named by its certificate", async () => {
    const alice = await connect('alice', 'alice');
    await alice.publishAsync('x3dh/v2/req/alice/bundle.fetch', 'x', { qos: 1 });
    await assert.rejects(alice.publishAsync('x3dh/v2/req/bob/bundle.fetch', 'x', { qos: 1 }), /not authorized/i);
    const [granted] = await alice.subscribeAsync('x3dh/v2/resp/bob', { qos: 1 }).catch((error: { packet?: { granted?: number[] } }) =>
      (error.packet?.granted ?? []).map((qos) => ({ qos })));
    assert.equal(granted?.qos, NOT_AUTHORIZED);
  });

  it("refuses a client id that is not the certificate's name (no taking over another device's session)", async () => {
    await assert.rejects(connect('alice', 'bob'), /cannot connect/);
  });

  it('refuses a client without a certificate, and TLS 1.2', async () => {
    await assert.rejects(connect(null, 'alice'), /cannot connect/);
    const port = Number(new URL(broker.webSocketUrl!).port);
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: certificates.ca, cert: certificates.clients.alice!.cert,
        key: certificates.clients.alice!.key, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, () => {
        socket.destroy();
        resolve('TLS 1.2 accepted');
      });
      socket.once('error', (error) => resolve(error.message));
    });
    assert.doesNotMatch(outcome, /accepted/);
  });
});

it('--embedded-broker-ws-port is refused with an external broker, whose WebSocket listener is its own business', () => {
  assert.equal(parseServerConfig(['--embedded-broker-ws-port', '0']).embeddedBrokerWebSocketPort, 0);
  for (const external of [['--broker-url', 'mqtts://broker:8883'], ['--amqp-url', 'amqps://rabbitmq:5671/x3dh']]) {
    assert.throws(() => parseServerConfig([...external, '--embedded-broker-ws-port', '1885']), /cannot be used with option/);
  }
});
