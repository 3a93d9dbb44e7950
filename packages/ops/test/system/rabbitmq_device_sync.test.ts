import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort, hasRabbitMq, startRabbitMq, type RunningRabbitMq } from '@x3dh-iot/testkit';
import { cli } from '../operator_cli.js';

/**
 * Devices added to and revoked from a running RabbitMQ node by `broker rabbitmq-sync`, as an
 * operator does on the Kubernetes cluster: the node started with boot definitions that name no
 * device, and it is never restarted; the connections of the devices that stay are never touched.
 */
const mqttListener = (port: number) => `started MQTT TLS listener on [::]:${port}`;

describe('broker rabbitmq-sync: device users applied live to a running RabbitMQ', { skip: hasRabbitMq ? false : 'RabbitMQ is not installed' }, () => {
  let dir: string;
  let mqttPort: number;
  let rabbit: RunningRabbitMq;
  let pid: string;
  const clients: MqttClient[] = [];

  const connect = async (certificate: string, clientId: string) => {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqttPort}`, {
      protocolVersion: 4, clientId, minVersion: 'TLSv1.3', reconnectPeriod: 0, connectTimeout: 5000,
      ca: await readFile(join(dir, 'pki', 'ca.crt')), cert: await readFile(`${certificate}.crt`), key: await readFile(`${certificate}.key`),
    } as mqtt.IClientOptions);
    clients.push(client);
    return client;
  };
  const device = (name: string) => join(dir, 'pki', 'devices', name);
  const sync = () => cli('broker', 'rabbitmq-sync', '-d', dir, '--rabbitmqctl', rabbit.rabbitmqctl.join(' '));
  const nodePid = () => new Promise<string>((resolve, reject) =>
    execFile(rabbit.rabbitmqctl[0]!, [...rabbit.rabbitmqctl.slice(1), '--quiet', 'eval', 'os:getpid().'], (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))));
  /** A round trip on the device's own topic: the connection works, not only looks open. */
  const roundTrip = async (client: MqttClient, name: string) => {
    const topic = `x3dh/v2/resp/${name}`;
    await client.subscribeAsync(topic, { qos: 1 });
    const server = await connect(join(dir, 'pki', 'server-client'), `x3dh-server-probe-${clients.length}`);
    const arrived = new Promise<void>((resolve) => client.on('message', (got) => got === topic && resolve()));
    await server.publishAsync(topic, 'ping', { qos: 1 });
    await arrived;
    await server.endAsync();
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-rabbit-sync-'));
    await chmod(dir, 0o755);
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'broker', '-d', dir, '--ip', '127.0.0.1');
    await cli('pki', 'server-client', '-d', dir);
    mqttPort = await freePort();
    // Boot configuration before any device exists: the node imports no device user at start.
    const bundle = join(dir, 'brokers', 'rabbitmq');
    await cli('broker', 'rabbitmq', '-d', dir, '--install-dir', bundle, '--mqtt-port', String(mqttPort), '--amqp-port', String(await freePort()));
    assert.doesNotMatch(await readFile(join(bundle, 'definitions.json'), 'utf8'), /x3dh-device/);
    rabbit = await startRabbitMq(join(dir, 'node'), { config: join(bundle, 'rabbitmq.conf'), plugins: join(bundle, 'enabled_plugins') }, mqttListener(mqttPort));
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
    await rabbit?.stop();
  });

  it('adds devices to the running node; a device added later connects while the others stay connected', async () => {
    pid = await nodePid();
    await cli('pki', 'device', 'alice', 'bob', '-d', dir);
    await assert.rejects(connect(device('alice'), 'alice-0'), 'no user before the sync');
    assert.match(await sync(), /2 added, 0 deleted/);
    const alice = await connect(device('alice'), 'alice-1');
    const bob = await connect(device('bob'), 'bob-1');
    await roundTrip(alice, 'alice');

    await cli('pki', 'device', 'carol', '-d', dir);
    assert.match(await sync(), /1 added, 0 deleted/);
    const carol = await connect(device('carol'), 'carol-1');
    await roundTrip(carol, 'carol');
    assert.ok(alice.connected && bob.connected, 'existing devices keep their connections');
    await roundTrip(alice, 'alice');
  });

  it('deletes a revoked device: its connection is closed and it cannot log in again; the others are untouched', async () => {
    // The stolen device keeps its certificate and key.
    const stolen = join(dir, 'stolen-bob');
    await copyFile(`${device('bob')}.crt`, `${stolen}.crt`);
    await copyFile(`${device('bob')}.key`, `${stolen}.key`);
    const bob = await connect(stolen, 'bob-2');
    const alice = await connect(device('alice'), 'alice-2');
    const bobClosed = new Promise<void>((resolve) => bob.once('close', () => resolve()));
    await cli('pki', 'revoke', 'bob', '--certificate-only', '-d', dir);
    assert.match(await sync(), /0 added, 1 deleted/);
    await bobClosed;
    await assert.rejects(connect(stolen, 'bob-3'), 'the revoked certificate no longer logs in');
    assert.ok(alice.connected);
    await roundTrip(alice, 'alice');
    assert.equal(await nodePid(), pid, 'the node was not restarted');
  });
});
