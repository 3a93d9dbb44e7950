import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import amqp from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort, hasRabbitMq, startRabbitMq, type RunningRabbitMq } from '@x3dh-iot/testkit';
import { cli } from '../operator_cli.js';

/**
 * The RabbitMQ configuration from the CLI, run by the RabbitMQ installed here (3.10: MQTT 3.1.1
 * only, so these clients speak 3.1.1; the rules are the same for MQTT 5 on 3.13+). RabbitMQ closes
 * the connection of a client that breaks a topic permission.
 */
/** mqtt.js hands its options to tls.connect; its types do not list the TLS ones. */
const TLS13 = { minVersion: 'TLSv1.3' } as const satisfies tls.ConnectionOptions;
const mqttListener = (port: number) => `started MQTT TLS listener on [::]:${port}`;

describe('RabbitMQ with the configuration and definitions from the CLI', { skip: hasRabbitMq ? false : 'RabbitMQ is not installed' }, () => {
  let dir: string;
  let mqttPort: number;
  let amqpPort: number;
  let rabbit: RunningRabbitMq;
  const clients: MqttClient[] = [];

  const connect = async (who: string, extra: { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion; clientId?: string } = {}) => {
    const base = who === 'server' ? join(dir, 'pki', 'server-client') : join(dir, 'pki', 'devices', who);
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqttPort}`, {
      protocolVersion: 4,
      clientId: extra.clientId ?? `${who}-${clients.length}`,
      ca: await readFile(join(dir, 'pki', 'ca.crt')),
      cert: await readFile(`${base}.crt`),
      key: await readFile(`${base}.key`),
      ...TLS13,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...extra,
    });
    clients.push(client);
    return client;
  };

  /** Resolves true when the broker closes the connection within the time given. */
  const closedBy = (client: MqttClient, action: () => Promise<unknown>) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3000);
      client.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      action().catch(() => undefined);
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-rabbit-'));
    await chmod(dir, 0o755);
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'broker', '-d', dir, '--dns', 'localhost', '--ip', '127.0.0.1');
    await cli('pki', 'server-client', '-d', dir);
    await cli('pki', 'device', 'alice', 'bob', '-d', dir);
    [mqttPort, amqpPort] = [await freePort(), await freePort()];
    const bundle = join(dir, 'brokers', 'rabbitmq');
    await cli('broker', 'rabbitmq', '-d', dir, '--install-dir', bundle, '--mqtt-port', String(mqttPort), '--amqp-port', String(amqpPort));
    rabbit = await startRabbitMq(join(dir, 'node'), { config: join(bundle, 'rabbitmq.conf'), plugins: join(bundle, 'enabled_plugins') }, mqttListener(mqttPort));
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
    await rabbit?.stop();
  });

  it('loads the per-device definitions', () => {
    assert.match(rabbit.output(), /Successfully set topic permissions on exchange 'amq\.topic' for 'alice' in virtual host 'x3dh'/);
  });

  it("security-v2 item 2: devices and the server log in by certificate over TLS 1.3; requests reach the server, responses only their device (RabbitMQ)", async () => {
    const server = await connect('server');
    const alice = await connect('alice');
    const bob = await connect('bob');
    const received: string[] = [];
    const arrived = (who: string, topic: string) => new Promise<void>((resolve) => {
      const check = () => (received.includes(`${who}:${topic}`) ? resolve() : setTimeout(check, 20));
      check();
    });
    for (const [who, client] of [['server', server], ['alice', alice], ['bob', bob]] as const) {
      client.on('message', (topic) => received.push(`${who}:${topic}`));
    }
    await server.subscribeAsync('x3dh/v2/req/#', { qos: 1 });
    await alice.subscribeAsync('x3dh/v2/resp/alice', { qos: 1 });
    await bob.subscribeAsync('x3dh/v2/resp/bob', { qos: 1 });
    await alice.publishAsync('x3dh/v2/req/alice/bundle', 'x', { qos: 1 });
    await arrived('server', 'x3dh/v2/req/alice/bundle');
    await server.publishAsync('x3dh/v2/resp/bob', 'for bob', { qos: 1 });
    await server.publishAsync('x3dh/v2/resp/alice', 'for alice', { qos: 1 });
    await Promise.all([arrived('alice', 'x3dh/v2/resp/alice'), arrived('bob', 'x3dh/v2/resp/bob')]);
    assert.deepEqual(received.sort(), ['alice:x3dh/v2/resp/alice', 'bob:x3dh/v2/resp/bob', 'server:x3dh/v2/req/alice/bundle']);
    assert.ok(alice.connected && bob.connected && server.connected);
  });

  it("security-v2 item 2: a device that publishes as another device, subscribes to another device's responses or uses v1 while it is off is closed (RabbitMQ)", async () => {
    const alice = await connect('alice');
    assert.equal(await closedBy(alice, () => alice.publishAsync('x3dh/v2/req/bob/bundle', 'x', { qos: 1 })), true);
    const again = await connect('alice');
    assert.equal(await closedBy(again, () => again.subscribeAsync('x3dh/v2/resp/bob', { qos: 1 })), true);
    const third = await connect('alice');
    assert.equal(await closedBy(third, () => third.publishAsync('x3dh/req/users', '{}', { qos: 1 })), true, 'v1 is off');
  });

  it("attack: a device that consumes the key server's queue over AMQP with its certificate diverts none of the other devices' requests (RabbitMQ)", async () => {
    // The server's MQTT session (its default client id) has a queue a second consumer would share.
    const server = await connect('server', { clientId: 'x3dh-server-host-1' });
    const received = new Set<string>();
    server.on('message', (_topic, payload) => received.add(payload.toString()));
    await server.subscribeAsync('x3dh/v2/req/#', { qos: 1 });
    const base = join(dir, 'pki', 'devices', 'alice');
    const attacker = await amqp.connect(`amqps://127.0.0.1:${amqpPort}/x3dh`, {
      credentials: amqp.credentials.external(), ca: await readFile(join(dir, 'pki', 'ca.crt')),
      cert: await readFile(`${base}.crt`), key: await readFile(`${base}.key`), minVersion: 'TLSv1.3',
    });
    attacker.on('error', () => undefined);
    const refusals: string[] = [];
    for (const queue of ['mqtt-subscription-x3dh-server-host-1qos1', 'x3dh-server.requests']) {
      const channel = await attacker.createChannel();
      channel.on('error', () => undefined);
      await channel.consume(queue, (message) => message && channel.ack(message)).catch((error: Error) => refusals.push(error.message));
    }
    const bob = await connect('bob');
    const count = 20;
    for (let i = 0; i < count; i += 1) await bob.publishAsync('x3dh/v2/req/bob/bundle.fetch', `request ${i}`, { qos: 1 });
    const deadline = Date.now() + 3000;
    while (received.size < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    await attacker.close().catch(() => undefined);
    assert.equal(count - received.size, 0, 'requests lost');
    assert.equal(refusals.filter((message) => /ACCESS_REFUSED/.test(message)).length, 2, refusals.join('; '));
  });

  it('security-v2 item 17: RabbitMQ refuses TLS 1.2 and clients without a certificate', async () => {
    await assert.rejects(connect('alice', { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }));
    await assert.rejects(mqtt.connectAsync(`mqtts://127.0.0.1:${mqttPort}`, {
      protocolVersion: 4, ca: await readFile(join(dir, 'pki', 'ca.crt')), reconnectPeriod: 0, connectTimeout: 5000,
    }));
  });
});

describe('RabbitMQ with wire protocol v1 enabled', { skip: hasRabbitMq ? false : 'RabbitMQ is not installed' }, () => {
  let dir: string;
  let mqttPort: number;
  let rabbit: RunningRabbitMq;
  const clients: MqttClient[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-rabbit-v1-'));
    await chmod(dir, 0o755);
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'broker', '-d', dir, '--ip', '127.0.0.1');
    await cli('pki', 'server-client', '-d', dir);
    await cli('pki', 'device', 'alice', '-d', dir);
    mqttPort = await freePort();
    const bundle = join(dir, 'brokers', 'rabbitmq');
    await cli('broker', 'rabbitmq', '-d', dir, '--install-dir', bundle, '--enable-v1', '--mqtt-port', String(mqttPort), '--amqp-port', String(await freePort()));
    rabbit = await startRabbitMq(join(dir, 'node'), {
      config: join(bundle, 'rabbitmq.conf'), plugins: join(bundle, 'enabled_plugins'), confD: [join(bundle, 'v1-legacy.conf')],
    }, mqttListener(mqttPort));
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
    await rabbit?.stop();
  });

  it('security-v2 item 2: with v1 on, firmware without a certificate gets the v1 topics and nothing else (RabbitMQ)', async () => {
    const ca = await readFile(join(dir, 'pki', 'ca.crt'));
    const server = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqttPort}`, {
      protocolVersion: 4, clientId: 'server-1', ca, ...TLS13, reconnectPeriod: 0, connectTimeout: 5000,
      cert: await readFile(join(dir, 'pki', 'server-client.crt')), key: await readFile(join(dir, 'pki', 'server-client.key')),
    });
    const firmware = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqttPort}`, {
      protocolVersion: 4, clientId: 'esp32-original', ca, ...TLS13, reconnectPeriod: 0, connectTimeout: 5000,
    });
    clients.push(server, firmware);
    const arrival = (client: MqttClient, topic: string) => new Promise<void>((resolve) => client.on('message', (got) => got === topic && resolve()));
    await server.subscribeAsync('x3dh/register/#', { qos: 1 });
    await firmware.subscribeAsync('x3dh/resp/#', { qos: 1 });
    const request = arrival(server, 'x3dh/register/ik');
    await firmware.publishAsync('x3dh/register/ik', '{}', { qos: 1 });
    await request;
    const response = arrival(firmware, 'x3dh/resp/me');
    await server.publishAsync('x3dh/resp/me', '{"status":"created"}', { qos: 1 });
    await response;

    const closed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3000);
      firmware.once('close', () => (clearTimeout(timer), resolve(true)));
    });
    firmware.publishAsync('x3dh/v2/req/alice/bundle', 'x', { qos: 1 }).catch(() => undefined);
    assert.equal(await closed, true, 'v2 topics are refused to the v1 user');
  });
});
