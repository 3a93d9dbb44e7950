import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { rabbitMqConfig, rabbitMqDefinitions, rabbitMqPasswordHash, rabbitMqV1Config, routingKeyPattern, type RabbitMqOptions } from '../src/index.js';

const RABBITMQ_LIB = '/usr/lib/rabbitmq/lib';

const options: RabbitMqOptions = {
  installDir: '/etc/rabbitmq/x3dh',
  vhost: 'x3dh',
  mqttPort: 8883,
  amqpPort: 5671,
  devices: ['alice', 'bob', 'node.7'],
  serverIdentity: 'x3dh-server',
  kubernetes: true,
};

interface TopicPermission {
  user: string;
  write: string;
  read: string;
}

function topicPermissions(definitions: string): Map<string, { write: RegExp; read: RegExp }> {
  const parsed = JSON.parse(definitions) as { topic_permissions: TopicPermission[] };
  return new Map(parsed.topic_permissions.map((entry) => [entry.user, { write: new RegExp(entry.write), read: new RegExp(entry.read) }]));
}

/** Every `mapping` name of the cuttlefish schemas shipped with the installed RabbitMQ. */
function installedSchemaKeys(): RegExp[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith('.schema')) files.push(join(dir, entry.name));
    }
  };
  walk(RABBITMQ_LIB);
  const names = files.flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\{mapping, "([^"]+)"/g)].map((match) => match[1]!));
  return names.map((name) => new RegExp(`^${name.split('.').map((part) => (part.startsWith('$') ? '[^.]+' : part.replace(/[-_]/g, (c) => `\\${c}`))).join('\\.')}$`));
}

describe('RabbitMQ configuration', () => {
  it('lets each device publish only its own requests and read only its own responses and pushes', () => {
    const permissions = topicPermissions(rabbitMqDefinitions(options));
    const alice = permissions.get('alice')!;
    assert.ok(alice.write.test('x3dh.v2.req.alice.bundle'));
    assert.ok(!alice.write.test('x3dh.v2.req.bob.bundle'));
    assert.ok(!alice.write.test('x3dh.v2.resp.alice'));
    assert.ok(!alice.write.test('x3dh.req.users'), 'v1 is off');
    assert.ok(alice.read.test('x3dh.v2.resp.alice'));
    assert.ok(alice.read.test('x3dh.v2.push.alice'));
    assert.ok(!alice.read.test('x3dh.v2.resp.bob'));
    assert.ok(!alice.read.test('x3dh.v2.resp.#'));
    assert.ok(!alice.read.test('x3dh.v2.resp.*'));
    assert.ok(!alice.read.test('x3dh.resp.#'));
    // RabbitMQ swaps "." and "/" between MQTT topics and routing keys.
    const node = permissions.get('node.7')!;
    assert.ok(node.write.test('x3dh.v2.req.node/7.bundle'));
    assert.ok(!node.write.test('x3dh.v2.req.nodeX7.bundle'));

    const server = permissions.get('x3dh-server')!;
    assert.ok(server.read.test('x3dh.v2.req.#'));
    assert.ok(server.read.test('x3dh.v2.req.alice.bundle'));
    assert.ok(server.write.test('x3dh.v2.resp.bob'));
    assert.ok(server.write.test('x3dh.v2.push.bob'));
    assert.ok(!server.write.test('x3dh.v2.req.bob.bundle'), 'the server does not forge requests');
  });

  it('adds v1 rules and a password user only when v1 is enabled', () => {
    const definitions = JSON.parse(rabbitMqDefinitions({ ...options, v1Password: 'secret' }));
    const v1 = topicPermissions(JSON.stringify(definitions)).get('x3dh-v1-legacy')!;
    assert.ok(v1.write.test('x3dh.register.ik'));
    assert.ok(v1.read.test('x3dh.resp.#'), 'the firmware subscribes to x3dh/resp/#');
    assert.ok(!v1.write.test('x3dh.v2.req.alice.bundle'));
    const legacy = definitions.users.find((user: { name: string }) => user.name === 'x3dh-v1-legacy');
    const hash = Buffer.from(legacy.password_hash, 'base64');
    const salt = hash.subarray(0, 4);
    assert.deepEqual(hash.subarray(4), createHash('sha256').update(Buffer.concat([salt, Buffer.from('secret')])).digest());
    for (const user of definitions.users.filter((candidate: { name: string }) => candidate.name !== 'x3dh-v1-legacy')) {
      assert.equal(user.password_hash, '', `${user.name} logs in by certificate only`);
    }
    assert.match(rabbitMqConfig({ ...options, v1Password: 'secret' }), /^ssl_options\.fail_if_no_peer_cert = false$/m);
    assert.match(rabbitMqConfig(options), /^ssl_options\.fail_if_no_peer_cert = true$/m);
    assert.doesNotMatch(rabbitMqConfig({ ...options, v1Password: 'secret' }), /secret/, 'the password stays out of rabbitmq.conf');
    assert.match(rabbitMqV1Config('secret'), /^mqtt\.default_pass = secret$/m);
    assert.equal(rabbitMqPasswordHash('p', Buffer.from('00000000', 'hex')).length, 48);
  });

  it('serves MQTT and AMQP on TLS 1.3 only, with x.509 login', () => {
    const config = rabbitMqConfig(options);
    for (const line of [
      'listeners.tcp = none',
      'mqtt.listeners.tcp = none',
      'mqtt.listeners.ssl.default = 8883',
      'ssl_options.versions.1 = tlsv1.3',
      'ssl_options.verify = verify_peer',
      'mqtt.ssl_cert_login = true',
      'ssl_cert_login_from = common_name',
      'auth_mechanisms.1 = EXTERNAL',
      'mqtt.allow_anonymous = false',
      'mqtt.tcp_listen_options.nodelay = true',
      'cluster_formation.peer_discovery_backend = rabbit_peer_discovery_k8s',
    ]) {
      assert.ok(config.split('\n').includes(line), line);
    }
    assert.equal(routingKeyPattern([]), '^$');
  });

  it('uses only settings the installed RabbitMQ knows', { skip: existsSync(RABBITMQ_LIB) ? false : 'RabbitMQ is not installed' }, () => {
    const known = installedSchemaKeys();
    const keys = [rabbitMqConfig(options), rabbitMqV1Config('x')]
      .flatMap((text) => text.split('\n'))
      .filter((line) => line.trim() !== '' && !line.startsWith('#'))
      .map((line) => line.split(' = ')[0]!);
    assert.ok(keys.length > 20);
    for (const key of keys) assert.ok(known.some((pattern) => pattern.test(key)), `unknown setting ${key}`);
  });
});
