import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { MqttClient } from 'mqtt';
import { connectMqtt } from '@x3dh-iot/transport';
import { cli } from './operator_cli.js';
import { freePort } from '@x3dh-iot/testkit';
import { handBundleToMosquitto, hasMosquitto, startMosquitto } from './mosquitto_process.js';

const NOT_AUTHORIZED = 0x87;
const skip = hasMosquitto ? false : 'mosquitto is not installed';

interface Identity {
  cert?: string;
  key?: string;
}

/** PUBACK reason of a QoS 1 publish: 0 when accepted. */
async function publishReason(client: MqttClient, topic: string, payload = 'x'): Promise<number> {
  try {
    await client.publishAsync(topic, payload, { qos: 1 });
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

/** SUBACK reasons of one SUBSCRIBE: the QoS granted, or 0x87 for a refused filter. */
async function subscribeReasons(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((grant) => grant.qos);
  } catch (error) {
    // mqtt.js rejects a SUBACK that refuses any filter, with the SUBACK attached.
    return (error as { packet?: { granted?: number[] } }).packet?.granted ?? [-1];
  }
}

/** The key server's subscription, in a share group of each test's own (replicas of other tests stay connected). */
const shareFilter = (group: string, filter = 'x3dh/v2/req/#') => `$share/${group}/${filter}`;

/**
 * Sends `count` requests from `sender` while a replica of the key server reads the share group,
 * and returns how many of them that replica did not receive.
 */
async function requestsLost(server: MqttClient, sender: MqttClient, device: string, count: number): Promise<number> {
  const received = new Set<string>();
  server.on('message', (topic, payload) => {
    if (topic.startsWith(`x3dh/v2/req/${device}/`)) received.add(payload.toString());
  });
  for (let i = 0; i < count; i += 1) await sender.publishAsync(`x3dh/v2/req/${device}/bundle.fetch`, `request ${i}`, { qos: 1 });
  // A request that reaches its subscriber comes within milliseconds; one diverted never does.
  const deadline = Date.now() + 3000;
  while (received.size < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return count - received.size;
}

/** Collects the topics a client receives; `next` waits until one has arrived on a topic. */
function inbox(client: MqttClient): { topics: string[]; next(topic: string): Promise<void> } {
  const topics: string[] = [];
  const waiters: Array<{ topic: string; resolve: () => void }> = [];
  client.on('message', (topic) => {
    topics.push(topic);
    for (const waiter of waiters.filter((candidate) => candidate.topic === topic)) waiter.resolve();
  });
  return {
    topics,
    next: (topic) =>
      new Promise((resolve, reject) => {
        if (topics.includes(topic)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no message on ${topic}; got ${topics.join(', ')}`)), 5000);
        waiters.push({ topic, resolve: () => (clearTimeout(timer), resolve()) });
      }),
  };
}

/** Sets up a PKI and a Mosquitto bundle with the CLI, then starts Mosquitto from it. */
async function brokerFromCli(v1: boolean, revoke: string[] = []) {
  const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-mosq-'));
  await cli('pki', 'init', '-d', dir);
  await cli('pki', 'broker', '-d', dir, '--dns', 'localhost', '--ip', '127.0.0.1');
  await cli('pki', 'server-client', '-d', dir);
  await cli('pki', 'device', 'alice', 'bob', '-d', dir);
  // Copies of the revoked devices' credentials, as a thief of the device would hold them.
  const revoked = new Map<string, Identity>();
  for (const device of revoke) {
    const base = join(dir, 'pki', 'devices', device);
    revoked.set(device, { cert: await readFile(`${base}.crt`, 'utf8'), key: await readFile(`${base}.key`, 'utf8') });
  }
  if (revoke.length > 0) await cli('pki', 'revoke', ...revoke, '--certificate-only', '-d', dir);
  const [port, serverPort, v1Port] = [await freePort(), await freePort(), await freePort()];
  const bundle = join(dir, 'brokers', 'mosquitto');
  await cli('broker', 'mosquitto', '-d', dir, '--install-dir', bundle, '--persistence-dir', join(dir, 'mosquitto-data'), '--bind', '127.0.0.1', '--port', String(port), '--server-port', String(serverPort), ...(v1 ? ['--v1-port', String(v1Port)] : []));
  await handBundleToMosquitto(bundle, [dir, join(dir, 'brokers'), bundle], join(dir, 'mosquitto-data'));
  const config = join(bundle, 'mosquitto.conf');
  const listeners = v1 ? [port, serverPort, v1Port] : [port, serverPort];
  let mosquitto = await startMosquitto(config, listeners);
  const ca = await readFile(join(dir, 'pki', 'ca.crt'), 'utf8');
  const identity = async (name: string): Promise<Identity> => {
    const base = name === 'server' ? join(dir, 'pki', 'server-client') : join(dir, 'pki', 'devices', name);
    return { cert: await readFile(`${base}.crt`, 'utf8'), key: await readFile(`${base}.key`, 'utf8') };
  };
  const clients: MqttClient[] = [];
  const connect = async (who: Identity, onPort: number, clientId?: string) => {
    const client = await connectMqtt({ url: `mqtts://127.0.0.1:${onPort}`, ca, ...who, clientId, connectTimeoutMs: 3000, reconnectPeriodMs: 0 });
    clients.push(client);
    return client;
  };
  const close = async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await mosquitto.stop();
  };
  const restart = async () => {
    await mosquitto.stop();
    mosquitto = await startMosquitto(config, listeners);
  };
  return { dir, ca, port, serverPort, v1Port, identity, connect, close, restart, revoked };
}

/** Resolves when a TLS handshake (and the broker's verdict on the client certificate) succeeds. */
function tlsConnect(port: number, options: tls.ConnectionOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () => {
      // A TLS 1.3 server refuses a client certificate after the client's handshake has completed:
      // only the CONNACK to an MQTT 5 CONNECT (client id "x") proves the connection was accepted.
      socket.write(Buffer.from('100e00044d5154540502003c00000178', 'hex'));
      socket.once('data', () => {
        socket.destroy();
        resolve();
      });
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed')));
  });
}

describe('Mosquitto with certificates and ACLs from the CLI (v1 off)', { skip }, () => {
  let broker: Awaited<ReturnType<typeof brokerFromCli>>;
  before(async () => {
    broker = await brokerFromCli(false);
  });
  after(async () => broker?.close());

  it("security-v2 item 2: a device cannot publish as another device, nor receive another device's responses or pushes (Mosquitto)", async () => {
    const server = await broker.connect(await broker.identity('server'), broker.serverPort, 'server-replica-1');
    const serverInbox = inbox(server);
    await server.subscribeAsync('$share/x3dh-server/x3dh/v2/req/#', { qos: 1 });
    const alice = await broker.connect(await broker.identity('alice'), broker.port);
    const aliceInbox = inbox(alice);
    assert.deepEqual(await subscribeReasons(alice, ['x3dh/v2/resp/alice', 'x3dh/v2/push/alice', 'x3dh/v2/resp/bob', 'x3dh/v2/push/bob']), [1, 1, NOT_AUTHORIZED, NOT_AUTHORIZED]);

    // Forbidden first: when the allowed message that follows arrives, the forbidden one would have too.
    assert.equal(await publishReason(alice, 'x3dh/v2/req/bob/bundle'), NOT_AUTHORIZED, 'publish as another device');
    assert.equal(await publishReason(alice, 'x3dh/req/users'), NOT_AUTHORIZED, 'v1 topics while v1 is off');
    assert.equal(await publishReason(alice, 'x3dh/v2/resp/alice'), NOT_AUTHORIZED, 'forge a response');
    assert.equal(await publishReason(alice, 'x3dh/v2/req/alice/bundle'), 0);
    await serverInbox.next('x3dh/v2/req/alice/bundle');
    assert.deepEqual(serverInbox.topics, ['x3dh/v2/req/alice/bundle']);

    assert.equal(await publishReason(server, 'x3dh/v2/resp/bob'), 0);
    assert.equal(await publishReason(server, 'x3dh/v2/push/bob'), 0);
    assert.equal(await publishReason(server, 'x3dh/v2/push/alice'), 0);
    assert.equal(await publishReason(server, 'x3dh/v2/resp/alice'), 0);
    await aliceInbox.next('x3dh/v2/resp/alice');
    assert.deepEqual(aliceInbox.topics, ['x3dh/v2/push/alice', 'x3dh/v2/resp/alice']);
  });

  it("security-v2 item 2: the client id is the certificate's name, so a device cannot take over another device's session (Mosquitto)", async () => {
    const bob = await broker.connect(await broker.identity('bob'), broker.port, 'bob');
    let bobClosed = 0;
    bob.on('close', () => (bobClosed += 1));
    const bobInbox = inbox(bob);
    await bob.subscribeAsync('x3dh/v2/resp/bob', { qos: 1 });
    const impostor = await broker.connect(await broker.identity('alice'), broker.port, 'bob');
    const impostorInbox = inbox(impostor);
    assert.deepEqual(await subscribeReasons(impostor, ['x3dh/v2/resp/bob']), [NOT_AUTHORIZED]);
    const server = await broker.connect(await broker.identity('server'), broker.serverPort, 'server-replica-2');
    await server.publishAsync('x3dh/v2/resp/bob', 'for bob', { qos: 1 });
    await bobInbox.next('x3dh/v2/resp/bob');
    assert.equal(bobClosed, 0, 'bob was not disconnected');
    assert.deepEqual(impostorInbox.topics, []);
  });

  it("keeps a device's queued deliveries across a broker restart", async () => {
    const offline = { clean: false, sessionExpirySeconds: 3600 };
    const bob = await connectMqtt({ url: `mqtts://127.0.0.1:${broker.port}`, ca: broker.ca, ...(await broker.identity('bob')), ...offline, connectTimeoutMs: 3000, reconnectPeriodMs: 0 });
    await bob.subscribeAsync('x3dh/v2/push/bob', { qos: 1 });
    await bob.endAsync();
    const server = await connectMqtt({ url: `mqtts://127.0.0.1:${broker.serverPort}`, ca: broker.ca, ...(await broker.identity('server')), connectTimeoutMs: 3000, reconnectPeriodMs: 0 });
    await server.publishAsync('x3dh/v2/push/bob', 'queued while offline', { qos: 1 });
    await server.endAsync();
    await broker.restart();
    const back = await connectMqtt({ url: `mqtts://127.0.0.1:${broker.port}`, ca: broker.ca, ...(await broker.identity('bob')), ...offline, connectTimeoutMs: 3000, reconnectPeriodMs: 0 });
    const delivered = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the queued message was lost')), 5000);
      back.on('message', (_topic, payload) => (clearTimeout(timer), resolve(payload.toString())));
    });
    await back.endAsync();
    assert.equal(delivered, 'queued while offline');
  });

  it("security-v2 item 2: a device certificate gets no more than its own topics on the key server's listener (Mosquitto)", async () => {
    const alice = await broker.connect(await broker.identity('alice'), broker.serverPort);
    assert.equal(await publishReason(alice, 'x3dh/v2/resp/bob'), NOT_AUTHORIZED);
    assert.equal(await publishReason(alice, 'x3dh/v2/req/bob/x'), NOT_AUTHORIZED);
    assert.deepEqual(await subscribeReasons(alice, ['x3dh/v2/req/#', 'x3dh/v2/resp/bob']), [NOT_AUTHORIZED, NOT_AUTHORIZED]);
  });

  it("attack: a device that subscribes to the key server's shared subscription diverts none of the other devices' requests (Mosquitto)", async () => {
    const server = await broker.connect(await broker.identity('server'), broker.serverPort, 'server-replica-share');
    await server.subscribeAsync(shareFilter('replicas-a'), { qos: 1 });
    // On the devices' listener and on the key server's, which also takes certificates from the CA.
    const onDeviceListener = await broker.connect(await broker.identity('alice'), broker.port);
    const onServerListener = await broker.connect(await broker.identity('alice'), broker.serverPort, 'alice-on-server-listener');
    const filters = [shareFilter('replicas-a'), shareFilter('replicas-a', 'x3dh/v2/req/alice/#'), shareFilter('own-group', 'x3dh/v2/resp/alice')];
    const reasons = [await subscribeReasons(onDeviceListener, filters), await subscribeReasons(onServerListener, filters)];
    const bob = await broker.connect(await broker.identity('bob'), broker.port);
    assert.equal(await requestsLost(server, bob, 'bob', 30), 0);
    assert.deepEqual(reasons, [filters.map(() => NOT_AUTHORIZED), filters.map(() => NOT_AUTHORIZED)]);
  });

  it('security-v2 item 17: Mosquitto refuses TLS 1.2, clients without a certificate and certificates of another CA', async () => {
    const alice = await broker.identity('alice');
    await tlsConnect(broker.port, { ca: broker.ca, ...alice });
    await assert.rejects(tlsConnect(broker.port, { ca: broker.ca, ...alice, maxVersion: 'TLSv1.2' }), /protocol version|alert|closed/i);
    await assert.rejects(tlsConnect(broker.port, { ca: broker.ca }));
    const other = await mkdtemp(join(tmpdir(), 'x3dh-ops-mosq-other-'));
    await cli('pki', 'init', '-d', other);
    await cli('pki', 'device', 'alice', '-d', other);
    const foreign = { cert: await readFile(join(other, 'pki', 'devices', 'alice.crt'), 'utf8'), key: await readFile(join(other, 'pki', 'devices', 'alice.key'), 'utf8') };
    await assert.rejects(tlsConnect(broker.port, { ca: broker.ca, ...foreign }));
  });

  it('security-v2 item 17: a device connection refuses a Mosquitto broker whose certificate does not chain to its CA', async () => {
    const other = await mkdtemp(join(tmpdir(), 'x3dh-ops-mosq-other-ca-'));
    await cli('pki', 'init', '-d', other);
    const otherCa = await readFile(join(other, 'pki', 'ca.crt'), 'utf8');
    // connectMqtt is the connection of the device client (packages/device) and of the key server.
    await assert.rejects(connectMqtt({ url: `mqtts://127.0.0.1:${broker.port}`, ...(await broker.identity('alice')), ca: otherCa, connectTimeoutMs: 3000, reconnectPeriodMs: 0 }), /certificate/i);
  });

  it('security-v2 item 2: a device cannot read the requests of others, nor another device\'s topics through wildcards (Mosquitto)', async () => {
    const server = await broker.connect(await broker.identity('server'), broker.serverPort, 'server-replica-3');
    const serverInbox = inbox(server);
    // Not in the share group of the replicas connected by earlier tests, which could take the request.
    await server.subscribeAsync('x3dh/v2/req/#', { qos: 1 });
    const alice = await broker.connect(await broker.identity('alice'), broker.port);
    const aliceInbox = inbox(alice);
    assert.deepEqual(await subscribeReasons(alice, ['x3dh/v2/req/#', 'x3dh/v2/req/+/bundle.fetch', 'x3dh/v2/resp/+', 'x3dh/v2/push/#', '#']), Array(5).fill(NOT_AUTHORIZED));
    await alice.subscribeAsync('x3dh/v2/resp/alice', { qos: 1 });
    const bob = await broker.connect(await broker.identity('bob'), broker.port);
    assert.equal(await publishReason(bob, 'x3dh/v2/req/bob/bundle.fetch'), 0);
    await serverInbox.next('x3dh/v2/req/bob/bundle.fetch');
    assert.equal(await publishReason(server, 'x3dh/v2/push/bob'), 0);
    assert.equal(await publishReason(server, 'x3dh/v2/resp/alice'), 0);
    await aliceInbox.next('x3dh/v2/resp/alice');
    // Messages to one client keep their order, so anything of bob's would have come first.
    assert.deepEqual(aliceInbox.topics, ['x3dh/v2/resp/alice']);
  });

  it('security-v2 item 2: v1 topics are refused while v1 is off (Mosquitto)', async () => {
    const alice = await broker.connect(await broker.identity('alice'), broker.port);
    assert.equal(await publishReason(alice, 'x3dh/req/users'), NOT_AUTHORIZED);
    assert.equal(await publishReason(alice, 'x3dh/register/ik', '{}'), NOT_AUTHORIZED);
    assert.equal(await publishReason(alice, 'x3dh/msg/chat', '{}'), NOT_AUTHORIZED);
  });
});

describe('Mosquitto with wire protocol v1 enabled', { skip }, () => {
  let broker: Awaited<ReturnType<typeof brokerFromCli>>;
  before(async () => {
    broker = await brokerFromCli(true);
  });
  after(async () => broker?.close());

  it('security-v2 item 2: with v1 on, firmware without a client certificate gets the v1 topics only, over TLS 1.3 (Mosquitto)', async () => {
    const server = await broker.connect(await broker.identity('server'), broker.serverPort);
    const serverInbox = inbox(server);
    await server.subscribeAsync(['$share/x3dh-server/x3dh/req/#', '$share/x3dh-server/x3dh/register/#', '$share/x3dh-server/x3dh/msg/#', '$share/x3dh-server/x3dh/v2/req/#'], { qos: 1 });
    const firmware = await broker.connect({}, broker.v1Port, 'esp32-original');
    const firmwareInbox = inbox(firmware);
    assert.deepEqual(await subscribeReasons(firmware, ['x3dh/resp/#', 'x3dh/v2/resp/alice']), [1, NOT_AUTHORIZED]);

    assert.equal(await publishReason(firmware, 'x3dh/v2/req/alice/bundle'), NOT_AUTHORIZED);
    assert.equal(await publishReason(firmware, 'x3dh/register/ik', '{}'), 0);
    await serverInbox.next('x3dh/register/ik');
    assert.deepEqual(serverInbox.topics, ['x3dh/register/ik']);

    await server.publishAsync('x3dh/v2/resp/alice', 'private', { qos: 1 });
    await server.publishAsync('x3dh/resp/me', '{"status":"created"}', { qos: 1 });
    await firmwareInbox.next('x3dh/resp/me');
    assert.deepEqual(firmwareInbox.topics, ['x3dh/resp/me']);

    // Certificate devices may use v1 too while it is enabled.
    const alice = await broker.connect(await broker.identity('alice'), broker.port);
    assert.equal(await publishReason(alice, 'x3dh/req/users'), 0);
    await assert.rejects(tlsConnect(broker.v1Port, { ca: broker.ca, maxVersion: 'TLSv1.2' }));
  });

  it("attack: firmware without a certificate that subscribes to the key server's shared subscription diverts no requests (Mosquitto)", async () => {
    const server = await broker.connect(await broker.identity('server'), broker.serverPort, 'server-replica-v1-share');
    const filters = [shareFilter('replicas-b'), shareFilter('replicas-b', 'x3dh/req/#')];
    await server.subscribeAsync(filters, { qos: 1 });
    const attacker = await broker.connect({}, broker.v1Port, 'esp32-attacker');
    const reasons = await subscribeReasons(attacker, filters);
    const bob = await broker.connect(await broker.identity('bob'), broker.port);
    assert.equal(await requestsLost(server, bob, 'bob', 20), 0);
    assert.deepEqual(reasons, [NOT_AUTHORIZED, NOT_AUTHORIZED]);
  });
});

describe('Mosquitto after a device is revoked', { skip }, () => {
  let broker: Awaited<ReturnType<typeof brokerFromCli>>;
  before(async () => {
    broker = await brokerFromCli(false, ['bob']);
  });
  after(async () => broker?.close());

  it("refuses the revoked device's certificate and drops its rules; other devices keep working", async () => {
    const rules = JSON.parse(await readFile(join(broker.dir, 'brokers', 'mosquitto', 'dynamic-security.json'), 'utf8')) as { clients: Array<{ username: string }> };
    const usernames = rules.clients.map((client) => client.username);
    assert.ok(!usernames.includes('bob') && usernames.includes('alice'), usernames.join(', '));
    assert.match(await readFile(join(broker.dir, 'brokers', 'mosquitto', 'mosquitto.conf'), 'utf8'), /^crlfile .*ca\.crl$/m);
    await tlsConnect(broker.port, { ca: broker.ca, ...(await broker.identity('alice')) });
    await assert.rejects(tlsConnect(broker.port, { ca: broker.ca, ...broker.revoked.get('bob')! }));
    await assert.rejects(readFile(join(broker.dir, 'pki', 'devices', 'bob.key')), 'the revoked key is deleted');
  });
});
