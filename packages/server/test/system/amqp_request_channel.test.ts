import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import pg from 'pg';
import { encodeBase64url as b64, generateKeyPair, wireV1, wireV2 } from '@x3dh-iot/protocol';
import {
  createTestCertificates, createTestDatabase, enrolmentBody, freePort, hasRabbitMq, startRabbitMq, startServer, startTcpProxy,
  ServerStartError, type RunningRabbitMq, type ServerProcess, type TestDatabase, TEST_DEPLOYMENT_ID,
} from '@x3dh-iot/testkit';
import { mqttToRoutingKey } from '../../src/transport/amqp_request_channel.js';
import { Rabbit4Requester } from '../support/rabbitmq4_requester.js';
import { initialMessage, registerBundle, registerIdentity, uniqueName } from '../support/v1_fixtures.js';

const T = wireV1.V1_TOPICS;

/** Requests of `operation` a replica answered with `outcome`, from its /metrics. */
async function served(server: ServerProcess, operation: string, outcome = 'ok'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`x3dh_requests_total{operation="${operation}",outcome="${outcome}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Resolves once `count()` has not changed for `quietMs`. */
async function settled(count: () => number, quietMs: number): Promise<number> {
  for (let last = -1; ;) {
    const now = count();
    if (now === last) return now;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, quietMs));
  }
}

/** RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt || SHA-256(salt || password)). */
function passwordHash(password: string): string {
  const salt = randomBytes(4);
  return Buffer.concat([salt, createHash('sha256').update(Buffer.concat([salt, Buffer.from(password)])).digest()]).toString('base64');
}

/**
 * The node's configuration: replicas connect as in production, over TLS 1.3 logged in by their
 * client certificate's CN (SASL EXTERNAL); the test's requesters as guest on plain TCP.
 */
async function writeRabbitMqConfig(dir: string, tcpPort: number, tlsPort: number, serverUser: string) {
  const certificates = createTestCertificates(join(dir, 'pki'), [serverUser]);
  const all = { configure: '.*', write: '.*', read: '.*', vhost: '/' };
  const user = (name: string, hash: string) => ({ name, password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: [] });
  await writeFile(join(dir, 'definitions.json'), JSON.stringify({
    vhosts: [{ name: '/' }],
    users: [user('guest', passwordHash('guest')), user(serverUser, ''), user('no-v1', passwordHash('no-v1'))],
    permissions: [{ user: 'guest', ...all }, { user: serverUser, ...all }, { user: 'no-v1', ...all }],
    // A server user without the v1 request topics, as the generated permissions are without v1.
    topic_permissions: [{ user: 'no-v1', vhost: '/', exchange: 'amq.topic', write: '.*', read: '^$' }],
  }));
  await writeFile(join(dir, 'rabbitmq.conf'), [
    `listeners.tcp.default = ${tcpPort}`,
    `listeners.ssl.default = ${tlsPort}`,
    `ssl_options.cacertfile = ${certificates.caFile}`,
    `ssl_options.certfile = ${certificates.server.certFile}`,
    `ssl_options.keyfile = ${certificates.server.keyFile}`,
    'ssl_options.versions.1 = tlsv1.3',
    'ssl_options.verify = verify_peer',
    'ssl_options.fail_if_no_peer_cert = true',
    'auth_mechanisms.1 = PLAIN',
    'auth_mechanisms.2 = EXTERNAL',
    'ssl_cert_login_from = common_name',
    `definitions.local.path = ${join(dir, 'definitions.json')}`,
    'definitions.import_backend = local_filesystem',
    '',
  ].join('\n'));
  // The helper moves the Prometheus listener to a free port, so that plugin must be enabled.
  await writeFile(join(dir, 'enabled_plugins'), '[rabbitmq_prometheus,rabbitmq_auth_mechanism_ssl].\n');
  return { caFile: certificates.caFile, client: certificates.clients[serverUser]! };
}

/**
 * The key server's AMQP path on a private RabbitMQ node (3.10 here: AMQP 0.9.1 only, so requests
 * are published as RabbitMQ 4.x publishes an MQTT 5 request), with replicas as child processes on
 * one PostgreSQL database.
 */
describe('key server on RabbitMQ over AMQP 0.9.1', { skip: hasRabbitMq ? false : 'RabbitMQ is not installed', timeout: 120_000 }, () => {
  let dir: string;
  let url: string;
  let serverArgs: string[];
  let rabbit: RunningRabbitMq;
  let database: TestDatabase;
  const replicas: ServerProcess[] = [];
  const requesters: Rabbit4Requester[] = [];

  const startReplica = async () => {
    const replica = await startServer({ args: [...serverArgs, '--database-url', database.url, '--http-port', '0'] });
    replicas.push(replica);
    return replica;
  };
  const requester = async (responseTopic = `x3dh/resp/${uniqueName('device')}`) => {
    const opened = await Rabbit4Requester.open(url, responseTopic);
    requesters.push(opened);
    return opened;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'x3dh-amqp-'));
    const [port, tlsPort] = [await freePort(), await freePort()];
    const tls = await writeRabbitMqConfig(dir, port, tlsPort, 'x3dh-server');
    serverArgs = ['--amqp-url', `amqps://localhost:${tlsPort}`, '--amqp-ca', tls.caFile, '--amqp-cert', tls.client.certFile, '--amqp-key', tls.client.keyFile];
    [rabbit, database] = await Promise.all([
      startRabbitMq(join(dir, 'node'), { config: join(dir, 'rabbitmq.conf'), plugins: join(dir, 'enabled_plugins') },
        `started TCP listener on [::]:${port}`),
      createTestDatabase(),
    ]);
    url = `amqp://guest:guest@127.0.0.1:${port}`;
  });

  after(async () => {
    await Promise.all(requesters.map((r) => r.close().catch(() => undefined)));
    await Promise.all(replicas.map((r) => r.stop()));
    await rabbit?.stop();
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a replica whose permissions refuse the request bindings does not start, and says why', async () => {
    const noV1 = url.replace('guest:guest@', 'no-v1:no-v1@');
    await assert.rejects(startServer({ args: ['--amqp-url', noV1, '--database-url', database.url, '--http-port', '0'] }),
      (error: ServerStartError) => /ACCESS_REFUSED/.test(error.output) && error.exitCode !== null);
  });

  test('v1 operations end to end: replies reach the response topic with the correlation as it came', async () => {
    await startReplica();
    assert.match(rabbit.output(), /user 'x3dh-server' authenticated/, 'the replica logs in by its certificate');
    const device = await requester();
    const bob = uniqueName('bob');

    const created = await device.request(T.registerIdentity, registerIdentity(bob));
    assert.deepEqual(created.json, { status: 'created', username: bob });
    assert.equal(created.routingKey, device.responseTopic.replaceAll('/', '.'));
    assert.ok('utf8' in created.correlation);
    assert.equal(created.contentType, 'application/json');

    // Correlation Data that is not UTF-8 travels as the binary header both ways.
    const bundle = await device.request(T.registerBundle, registerBundle(bob, [7]), { binaryCorrelation: true });
    assert.deepEqual(bundle.json, { status: 'bundle created' });
    assert.ok('binary' in bundle.correlation && bundle.correlation.binary[0] === 0xff);

    const fetched = await device.request(wireV1.bundleTopic(bob), '{}') as { json: { opk_id: number } };
    assert.equal(fetched.json.opk_id, 7);
    assert.deepEqual((await device.request(T.initialMessage, initialMessage(bob, 'alice'))).json, { status: 'delivered' });
    const inbox = await device.request(wireV1.inboxTopic(bob), '{}') as { json: { from_user: string } };
    assert.equal(inbox.json.from_user, 'alice');
    assert.deepEqual((await device.request(wireV1.inboxTopic(bob), '{}')).json, { error: 'Empty inbox', code: 404 });
  });

  test('v2 over AMQP: user properties arrive as headers, answers go to the device response topic, pushes follow the commit', async () => {
    if (replicas.length === 0) await startReplica();
    const connection = await amqp.connect(url);
    try {
      const channel = await connection.createConfirmChannel();
      const [alice, bob] = [uniqueName('alice'), uniqueName('bob')];
      const identities = { [alice]: generateKeyPair(), [bob]: generateKeyPair() };
      const received: { routingKey: string; correlation: Buffer | undefined; json: Record<string, unknown> }[] = [];
      const { queue } = await channel.assertQueue('', { exclusive: true });
      for (const topic of [wireV2.responseTopic(alice), wireV2.responseTopic(bob), wireV2.pushTopic(bob)]) {
        await channel.bindQueue(queue, 'amq.topic', mqttToRoutingKey(topic));
      }
      await channel.consume(queue, (message) => received.push({
        routingKey: message!.fields.routingKey,
        correlation: message!.properties.headers?.['x-correlation-id'] as Buffer | undefined,
        json: JSON.parse(message!.content.toString('utf8')) as Record<string, unknown>,
      }), { noAck: true });
      const tokens = new pg.Client({ connectionString: database.url });
      await tokens.connect();
      const issue = async () => {
        const token = randomBytes(16).toString('base64url');
        await tokens.query('INSERT INTO enrolment_tokens (token_digest) VALUES ($1)', [createHash('sha256').update(token).digest()]);
        return token;
      };
      // Published as RabbitMQ 4.x converts an MQTT 5 request: user properties become headers.
      const newRequestId = () => Buffer.concat([Buffer.from([0xff]), randomBytes(15)]);
      const request = async (device: string, operation: wireV2.V2Operation, body: unknown, requestId = newRequestId()) => {
        const payload = Buffer.from(JSON.stringify(body));
        const timestamp = Date.now();
        const signature = wireV2.signRequest(identities[device]!.privateKey, { deploymentId: TEST_DEPLOYMENT_ID, operation, device, requestId, timestamp, payload });
        channel.publish('amq.topic', mqttToRoutingKey(wireV2.requestTopic(device, operation)), payload, {
          persistent: true,
          headers: {
            'x-reply-to-topic': mqttToRoutingKey(`x3dh/v2/resp/${uniqueName('elsewhere')}`),
            'x-correlation-id': requestId,
            'x3dh-ts': String(timestamp),
            'x3dh-sig': b64(signature),
            'x3dh-deployment': TEST_DEPLOYMENT_ID,
          },
        });
        await channel.waitForConfirms();
        for (let waited = 0; waited < 15_000; waited += 20) {
          const reply = received.find((r) => r.correlation?.equals(requestId));
          if (reply) {
            assert.equal(reply.routingKey, mqttToRoutingKey(wireV2.responseTopic(device)));
            return reply.json;
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        throw new Error(`no answer to ${operation}`);
      };
      try {
        for (const device of [alice, bob]) {
          const requestId = newRequestId();
          const body = enrolmentBody(device, identities[device]!.publicKey, requestId, await issue());
          assert.deepEqual(await request(device, 'enroll', body, requestId),
            { ok: true, result: { device, identity_key: b64(identities[device]!.publicKey) } });
        }
        const spk = generateKeyPair();
        const upload = await request(bob, 'prekeys.upload', {
          signed_prekey: { id: 1, key: b64(spk.publicKey), signature: b64(wireV2.signSignedPreKey(identities[bob]!.privateKey, bob, 1, spk.publicKey)) },
          one_time_prekeys: [{ id: 1, key: b64(generateKeyPair().publicKey) }],
        });
        assert.deepEqual(upload, { ok: true, result: { one_time_prekeys: 1, signed_prekey_id: 1 } });
        const bundle = await request(alice, 'bundle.fetch', { device: bob });
        assert.equal(((bundle.result as { one_time_prekey: { id: number } }).one_time_prekey).id, 1);
        const sent = await request(alice, 'message.send', { to: bob, id: randomBytes(16).toString('base64url'), type: 'session', envelope: 'AAAA' });
        assert.equal(sent.ok, true);
        for (let waited = 0; !received.some((r) => r.json.type === 'message'); waited += 20) {
          assert.ok(waited < 15_000, 'message push');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const pushes = received.filter((r) => r.routingKey === mqttToRoutingKey(wireV2.pushTopic(bob)));
        assert.deepEqual(pushes.map((p) => p.json.type).sort(), ['message', 'prekeys_low']);
      } finally {
        await tokens.end();
      }
    } finally {
      await connection.close();
    }
  });

  test('two replicas on one queue: 50 requesters fetch one bundle, each one-time prekey to exactly one, one reply per request', async () => {
    const [first] = replicas;
    const second = await startReplica();
    // One response topic for all, as v1 devices share one: replies are counted per correlation.
    const device = await requester(T.response);
    const owner = uniqueName('owner');
    await device.request(T.registerIdentity, registerIdentity(owner));
    const opkIds = Array.from({ length: 20 }, (_, i) => i);
    await device.request(T.registerBundle, registerBundle(owner, opkIds));
    const before = await Promise.all([first!, second].map((r) => served(r, 'bundle')));

    const bundles = (await Promise.all(Array.from({ length: 50 }, () => device.request(wireV1.bundleTopic(owner), '{}'))))
      .map((reply) => reply.json as { opk_id: number; opk_b64?: string });

    const handedOut = bundles.filter((b) => b.opk_id !== -1);
    assert.deepEqual(handedOut.map((b) => b.opk_id).sort((a, b) => a - b), opkIds);
    assert.equal(new Set(handedOut.map((b) => b.opk_b64)).size, opkIds.length);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(device.replies.size, 52);
    assert.deepEqual([...new Set([...device.replies.values()].map((r) => r.length))], [1]);
    const perReplica = (await Promise.all([first!, second].map((r) => served(r, 'bundle')))).map((n, i) => n - before[i]!);
    assert.equal(perReplica[0]! + perReplica[1]!, 50);
    assert.ok(perReplica.every((n) => n > 0), `both replicas take requests (${perReplica.join(' + ')})`);
  });

  test('a replica killed with requests in flight loses none: the other answers them, each applied once', async () => {
    const [victim, survivor] = replicas;
    const device = await requester();
    const recipient = uniqueName('recipient');
    await device.request(T.registerIdentity, registerIdentity(recipient));
    const total = 300;
    // The survivor frozen, the victim answers part of a first burst; then the victim is frozen too and the
    // rest is sent: the broker hands each frozen replica up to its prefetch, which the victim keeps
    // unacknowledged while the survivor, thawed, drains the queue. What then stays unanswered is
    // in the victim's hands, and what it committed without acknowledging comes back as a replay.
    const send = (i: number) => device.request(T.initialMessage, initialMessage(recipient, `sender${i}`, `message ${i}`));
    survivor!.process.kill('SIGSTOP');
    const firstPart = Array.from({ length: 30 }, (_, i) => send(i));
    // The frozen survivor was handed its share of these too: wait for the victim's answers only.
    while (device.replies.size < 1 + 10) await new Promise((resolve) => setTimeout(resolve, 5));
    victim!.process.kill('SIGSTOP');
    const answered = [...firstPart, ...Array.from({ length: total - 30 }, (_, i) => send(30 + i))];
    await new Promise((resolve) => setTimeout(resolve, 500));
    survivor!.process.kill('SIGCONT');
    const beforeKill = await settled(() => device.replies.size, 1500);
    const heldByVictim = 1 + total - beforeKill;
    await victim!.kill();

    const replies = await Promise.all(answered);
    assert.ok(replies.every((r) => (r.json as { status?: string }).status === 'delivered'));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string; distinct_n: string }>(
        `SELECT count(*) AS n, count(DISTINCT ciphertext) AS distinct_n FROM initial_messages
         WHERE recipient_id = (SELECT id FROM users WHERE username = $1)`, [recipient]);
      assert.deepEqual(rows[0], { n: String(total), distinct_n: String(total) });
    } finally {
      await client.end();
    }
    // A request committed by the victim but not yet acknowledged is answered again, from its record.
    const repeated = [...device.replies.values()].filter((r) => r.length > 1);
    assert.ok(repeated.every((r) => r.every((reply) => JSON.stringify(reply.json) === JSON.stringify(r[0]!.json))));
    const replayed = await served(survivor!, 'initialMessage', 'replayed');
    assert.ok(heldByVictim + replayed > 0, 'the killed replica held unacknowledged requests');
    console.log(`killed replica held ${heldByVictim} unanswered of ${total} requests; survivor replayed ${replayed} ` +
      `recorded replies; ${repeated.length} requests answered twice, identically`);
  });

  /** Polls /readyz until it answers `status`. */
  const readiness = async (replica: ServerProcess, status: number, within = 15_000) => {
    for (const deadline = Date.now() + within; ;) {
      if ((await fetch(`http://127.0.0.1:${replica.httpPort}/readyz`)).status === status) return;
      assert.ok(Date.now() < deadline, `/readyz did not become ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const healthz = async (replica: ServerProcess) => (await fetch(`http://127.0.0.1:${replica.httpPort}/healthz`)).status;

  test('a replica whose queue is deleted under it reports not ready, declares the queue again and serves on', async () => {
    const survivor = replicas[1]!;
    await readiness(survivor, 200);
    const connection = await amqp.connect(url);
    try {
      await (await connection.createChannel()).deleteQueue('x3dh-server.requests');
    } finally {
      await connection.close();
    }
    await readiness(survivor, 503, 5000);
    // It recovers by itself: the liveness probe has no reason to restart it.
    assert.equal(await healthz(survivor), 200);
    await readiness(survivor, 200);
    const device = await requester();
    const carol = uniqueName('carol');
    assert.deepEqual((await device.request(T.registerIdentity, registerIdentity(carol))).json, { status: 'created', username: carol });
    assert.ok(survivor.logs.some((entry) => entry.msg === 'AMQP reconnected: ready'));
  });

  test('a replica whose broker connection is cut reconnects once the broker is back, and serves on', async () => {
    const tlsPort = Number(new URL(serverArgs[1]!).port);
    const proxy = await startTcpProxy('127.0.0.1', tlsPort);
    try {
      const args = [...serverArgs];
      args[1] = `amqps://127.0.0.1:${proxy.port}`;
      const replica = await startServer({ args: [...args, '--database-url', database.url, '--http-port', '0'] });
      replicas.push(replica);
      await readiness(replica, 200);
      proxy.cut();
      await readiness(replica, 503, 5000);
      assert.equal(await healthz(replica), 200);
      // Attempts fail while the broker is unreachable; the replica keeps trying.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.ok(replica.logs.some((entry) => entry.msg === 'AMQP reconnection failed'), 'failed attempts are logged');
      proxy.restore();
      await readiness(replica, 200);
      // Requests are shared among the consumers of the queue: this replica takes its part again.
      const device = await requester();
      const before = await served(replica, 'registerIdentity');
      for (let i = 0; i < 20; i += 1) {
        const name = uniqueName('dave');
        assert.deepEqual((await device.request(T.registerIdentity, registerIdentity(name))).json, { status: 'created', username: name });
      }
      assert.ok(await served(replica, 'registerIdentity') > before, 'the reconnected replica serves requests');
    } finally {
      await proxy.close();
    }
  });
});
