import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { MqttClient } from 'mqtt';
import { createTestCertificates, type TestCertificates } from '@x3dh-iot/testkit';
import { connectMqtt, type MqttConnectionOptions } from '@x3dh-iot/transport';
import { createLogger } from '../src/index.js';
import { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from '../src/transport/embedded_broker.js';

const NOT_AUTHORIZED = 0x87;
const SERVER = { username: 'x3dh-server-test', password: 'a-fresh-random-password', clientId: 'key-server' };
const log = createLogger(process.env.X3DH_TEST_LOG_LEVEL ?? 'fatal');

/** PUBACK reason of a QoS 1 publish: 0 when accepted. */
async function publishReason(client: MqttClient, topic: string, payload = 'x'): Promise<number> {
  try {
    await client.publishAsync(topic, payload, { qos: 1 });
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

/** SUBACK reason of a subscription: 0 or 1 (the QoS granted) when accepted. */
async function subscribeReason(client: MqttClient, filter: string): Promise<number> {
  try {
    const [granted] = await client.subscribeAsync(filter, { qos: 1 });
    return granted!.qos;
  } catch (error) {
    // mqtt.js rejects a refused subscription with the SUBACK attached.
    return (error as { packet?: { granted?: number[] } }).packet?.granted?.[0] ?? -1;
  }
}

/** Collects the topics a client receives; `next` waits until one has arrived on a topic. */
function inbox(client: MqttClient): { topics: string[]; next(topic: string): Promise<void> } {
  const topics: string[] = [];
  const waiters: { topic: string; resolve: () => void }[] = [];
  client.on('message', (topic) => {
    topics.push(topic);
    for (const waiter of waiters.filter((candidate) => candidate.topic === topic)) waiter.resolve();
  });
  return {
    topics,
    next: (topic) => new Promise((resolve, reject) => {
      if (topics.includes(topic)) return resolve();
      const timer = setTimeout(() => reject(new Error(`no message on ${topic}; got ${topics.join(', ')}`)), 10_000);
      waiters.push({ topic, resolve: () => (clearTimeout(timer), resolve()) });
    }),
  };
}

/** An embedded broker and the clients a test connected to it, closed together. */
async function brokerFor(options: Partial<EmbeddedBrokerOptions>) {
  const broker: EmbeddedBroker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, server: SERVER, allowV1: false, ...options }, log);
  const clients: MqttClient[] = [];
  const connect = async (connection: Omit<MqttConnectionOptions, 'url'>) => {
    const client = await connectMqtt({ url: broker.url, connectTimeoutMs: 10_000, reconnectPeriodMs: 0, ...connection });
    clients.push(client);
    return client;
  };
  return {
    broker,
    connect,
    device: (name: string, extra: Omit<MqttConnectionOptions, 'url'> = {}) => connect({ clientId: name, ...extra }),
    server: (extra: Omit<MqttConnectionOptions, 'url'> = {}) => connect({ ...SERVER, ...extra }),
    close: async () => {
      await Promise.all(clients.map((client) => client.endAsync(true)));
      await broker.close();
    },
  };
}

describe('embedded broker rules without client certificates (loopback)', { timeout: 120_000 }, () => {
  let setup: Awaited<ReturnType<typeof brokerFor>>;
  before(async () => {
    setup = await brokerFor({});
  });
  after(() => setup?.close());

  it("security-v2 item 2: a device cannot subscribe to another device's response or push topic", async () => {
    const server = await setup.server();
    const alice = await setup.device('alice');
    const aliceInbox = inbox(alice);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/resp/bob'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/push/bob'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/resp/+'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/push/#'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, '#'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/resp/alice'), 1);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/push/alice'), 1);

    // Bob's first: when alice's own arrive, bob's would have arrived too.
    await server.publishAsync('x3dh/v2/resp/bob', 'for bob', { qos: 1 });
    await server.publishAsync('x3dh/v2/push/bob', 'for bob', { qos: 1 });
    await server.publishAsync('x3dh/v2/push/alice', 'for alice', { qos: 1 });
    await server.publishAsync('x3dh/v2/resp/alice', 'for alice', { qos: 1 });
    await aliceInbox.next('x3dh/v2/resp/alice');
    assert.deepEqual(aliceInbox.topics, ['x3dh/v2/push/alice', 'x3dh/v2/resp/alice']);
  });

  it('security-v2 item 2: a device cannot publish as another device, nor answer or push as the server', async () => {
    const server = await setup.server();
    const serverInbox = inbox(server);
    assert.equal(await subscribeReason(server, 'x3dh/v2/req/#'), 1);
    const alice = await setup.device('alice-2');
    assert.equal(await publishReason(alice, 'x3dh/v2/req/bob/bundle.fetch'), NOT_AUTHORIZED);
    assert.equal(await publishReason(alice, 'x3dh/v2/resp/bob'), NOT_AUTHORIZED);
    assert.equal(await publishReason(alice, 'x3dh/v2/push/bob'), NOT_AUTHORIZED);
    assert.equal(await publishReason(alice, 'x3dh/v2/req/alice-2/bundle.fetch'), 0);
    await serverInbox.next('x3dh/v2/req/alice-2/bundle.fetch');
    assert.deepEqual(serverInbox.topics, ['x3dh/v2/req/alice-2/bundle.fetch']);
  });

  it('security-v2 item 2: a device cannot subscribe to the request filter', async () => {
    const alice = await setup.device('alice-3');
    assert.equal(await subscribeReason(alice, 'x3dh/v2/req/#'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/req/+/bundle.fetch'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/req/bob/#'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/req/alice-3/#'), NOT_AUTHORIZED, 'not even its own requests');
  });

  it("a device's shared subscription to the requests is refused and diverts none of another device's requests", async () => {
    const server = await setup.server();
    const received = new Set<string>();
    server.on('message', (_topic, payload) => received.add(payload.toString()));
    assert.equal(await subscribeReason(server, 'x3dh/v2/req/#'), 1);
    const attacker = await setup.device('mallory');
    // aedes has no shared subscriptions: it refuses them itself (0x9e, shared subscriptions not supported).
    for (const filter of ['$share/x3dh-server/x3dh/v2/req/#', '$share/x3dh-server/x3dh/v2/req/mallory/#', '$share/g/x3dh/v2/resp/mallory']) {
      assert.ok(await subscribeReason(attacker, filter) >= 0x80, filter);
    }
    const bob = await setup.device('bob-share');
    const count = 20;
    for (let i = 0; i < count; i += 1) assert.equal(await publishReason(bob, 'x3dh/v2/req/bob-share/bundle.fetch', `request ${i}`), 0);
    const deadline = Date.now() + 3000;
    while (received.size < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(count - received.size, 0, 'requests lost');
  });

  it("security-v2 item 2: a device cannot take the key server's role or its session", async () => {
    await setup.server();
    await assert.rejects(setup.connect({ clientId: 'intruder', username: SERVER.username, password: 'guess' }), /bad user ?name or password/i);
    await assert.rejects(setup.connect({ clientId: SERVER.clientId }), /identifier|client identifier/i);
    await assert.rejects(setup.connect({ clientId: 'key-server-2', username: SERVER.username, password: SERVER.password }), /bad user ?name or password/i,
      "the server's password works only with its client id");
    // A client id that is no device name (a topic wildcard) gets no v2 topic at all.
    const wildcard = await setup.device('#');
    assert.equal(await subscribeReason(wildcard, 'x3dh/v2/resp/#'), NOT_AUTHORIZED);
    assert.equal(await publishReason(wildcard, 'x3dh/v2/req/a/x'), NOT_AUTHORIZED);
  });

  it('security-v2 item 2: v1 topics are refused while v1 is off', async () => {
    const firmware = await setup.device('esp32-a1b2c3');
    assert.equal(await publishReason(firmware, 'x3dh/req/users'), NOT_AUTHORIZED);
    assert.equal(await publishReason(firmware, 'x3dh/register/ik', '{}'), NOT_AUTHORIZED);
    assert.equal(await publishReason(firmware, 'x3dh/msg/chat', '{}'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(firmware, 'x3dh/resp/#'), NOT_AUTHORIZED);
  });
});

describe('embedded broker rules with wire protocol v1 enabled', { timeout: 120_000 }, () => {
  let setup: Awaited<ReturnType<typeof brokerFor>>;
  before(async () => {
    setup = await brokerFor({ allowV1: true });
  });
  after(() => setup?.close());

  it('security-v2 item 2: v1 topics are open to devices when v1 is on; v2 rules still hold', async () => {
    const server = await setup.server();
    const serverInbox = inbox(server);
    for (const filter of ['x3dh/req/#', 'x3dh/register/#', 'x3dh/msg/#']) assert.equal(await subscribeReason(server, filter), 1);
    const firmware = await setup.device('esp32-a1b2c3');
    const firmwareInbox = inbox(firmware);
    assert.equal(await subscribeReason(firmware, 'x3dh/resp/#'), 1);
    assert.equal(await subscribeReason(firmware, 'x3dh/v2/resp/alice'), NOT_AUTHORIZED);
    assert.equal(await publishReason(firmware, 'x3dh/v2/req/alice/bundle.fetch'), NOT_AUTHORIZED);
    assert.equal(await publishReason(firmware, 'x3dh/register/ik', '{}'), 0);
    await serverInbox.next('x3dh/register/ik');
    await server.publishAsync('x3dh/resp/me', '{"status":"created"}', { qos: 1 });
    await firmwareInbox.next('x3dh/resp/me');
    assert.deepEqual(firmwareInbox.topics, ['x3dh/resp/me']);
  });
});

describe('embedded broker with client certificates (TLS 1.3)', { timeout: 120_000 }, () => {
  let certificates: TestCertificates;
  let foreign: TestCertificates;
  let setup: Awaited<ReturnType<typeof brokerFor>>;
  const as = (name: string) => ({ ca: certificates.ca, cert: certificates.clients[name]!.cert, key: certificates.clients[name]!.key });
  before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-embedded-acl-'));
    certificates = createTestCertificates(path.join(dir, 'ours'), ['alice', 'bob', 'key-server']);
    foreign = createTestCertificates(path.join(dir, 'theirs'), ['alice']);
    setup = await brokerFor({ tls: { cert: certificates.server.cert, key: certificates.server.key, ca: certificates.ca } });
  });
  after(() => setup?.close());

  it("security-v2 item 2: with client certificates, the certificate's name is the device", async () => {
    assert.match(setup.broker.url, /^mqtts:/);
    const server = await setup.server(as('key-server'));
    const alice = await setup.device('alice', as('alice'));
    const aliceInbox = inbox(alice);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/resp/bob'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, 'x3dh/v2/resp/alice'), 1);
    assert.equal(await publishReason(alice, 'x3dh/v2/req/bob/bundle.fetch'), NOT_AUTHORIZED);
    assert.equal(await publishReason(alice, 'x3dh/v2/req/alice/bundle.fetch'), 0);
    await server.publishAsync('x3dh/v2/resp/alice', 'for alice', { qos: 1 });
    await aliceInbox.next('x3dh/v2/resp/alice');
  });

  it('security-v2 item 2: with client certificates, a client id different from the certificate CN is refused', async () => {
    const bob = await setup.device('bob', as('bob'));
    let bobClosed = 0;
    bob.on('close', () => (bobClosed += 1));
    const bobInbox = inbox(bob);
    assert.equal(await subscribeReason(bob, 'x3dh/v2/resp/bob'), 1);
    await assert.rejects(setup.device('bob', as('alice')), /identifier|client identifier/i, "alice's certificate cannot take bob's session");
    await assert.rejects(setup.device('carol', as('alice')), /identifier|client identifier/i);
    await assert.rejects(setup.connect({ clientId: 'alice', ca: certificates.ca }), 'no certificate, no connection');
    await assert.rejects(setup.device('alice', { ca: certificates.ca, cert: foreign.clients.alice!.cert, key: foreign.clients.alice!.key }),
      'a certificate of another CA is refused');
    const server = await setup.server(as('key-server'));
    await server.publishAsync('x3dh/v2/resp/bob', 'still for bob', { qos: 1 });
    await bobInbox.next('x3dh/v2/resp/bob');
    assert.equal(bobClosed, 0, 'bob kept his session');
  });

  it('security-v2 item 17: the embedded broker with TLS refuses TLS 1.2', async () => {
    const port = setup.broker.port;
    const handshake = (options: tls.ConnectionOptions) => new Promise<void>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ...as('alice'), ...options }, () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    });
    await handshake({});
    await assert.rejects(handshake({ maxVersion: 'TLSv1.2' }), /protocol version|alert/i);
  });

  it('security-v2 item 17: a device connection refuses a broker whose certificate does not chain to its CA', async () => {
    // connectMqtt is the device client's connection (packages/device) as well as the server's.
    await assert.rejects(setup.device('alice', { ...as('alice'), ca: foreign.ca }), /certificate/i);
    await assert.rejects(setup.device('alice', { ...as('alice'), ca: undefined }), /certificate/i, 'nor one the system CAs do not know');
  });
});
