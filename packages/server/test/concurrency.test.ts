import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { wireV1 } from '@x3dh-iot/protocol';
import type { MqttRequester } from '@x3dh-iot/transport';
import { requestJson } from '@x3dh-iot/testkit';
import type { KeyServer } from '../src/index.js';
import { startEmbeddedEnvironment, startPostgresEnvironment, type Environment } from './support/environments.js';
import { initialMessage, registerBundle, registerIdentity, uniqueName } from './support/v1_fixtures.js';

const T = wireV1.V1_TOPICS;

async function devices(env: Environment, count: number): Promise<MqttRequester[]> {
  return Promise.all(Array.from({ length: count }, () => env.device()));
}

/** Requests of `operation` a replica answered with outcome ok, from its /metrics. */
async function servedByReplica(server: KeyServer, operation: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`x3dh_requests_total{operation="${operation}",outcome="ok"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function twentyInitialMessagesToOneRecipient(env: Environment): Promise<void> {
  const senders = await devices(env, 20);
  const recipient = uniqueName('popular');
  await requestJson(senders[0]!, T.registerIdentity, registerIdentity(recipient));
  const sent = senders.map((_, i) => initialMessage(recipient, `sender${i}`, `message ${i}`));
  const acks = await Promise.all(senders.map((device, i) => requestJson(device, T.initialMessage, sent[i])));
  assert.ok(acks.every((ack) => (ack as { status?: string }).status === 'delivered'));
  const read = await Promise.all(senders.map((device) => requestJson(device, wireV1.inboxTopic(recipient))));
  const ciphertexts = (payloads: unknown[]) => payloads.map((m) => (m as { ciphertext_b64: string }).ciphertext_b64).sort();
  assert.deepEqual(ciphertexts(read), ciphertexts(sent.map((m) => JSON.parse(m))));
  assert.deepEqual(await requestJson(senders[0]!, wireV1.inboxTopic(recipient)), { error: 'Empty inbox', code: 404 });
}

describe('concurrency on postgresql + mosquitto with 2 server replicas', { timeout: 120_000 }, () => {
  let env: Environment;
  let replicas: KeyServer[];

  before(async () => {
    env = await startPostgresEnvironment();
    replicas = [env.server, await env.addReplica()];
  });
  after(() => env?.close());

  test('50 requesters fetch one bundle at once: each one-time prekey goes to exactly one, no request answered twice', async () => {
    const requesters = await devices(env, 50);
    const owner = uniqueName('owner');
    await requestJson(requesters[0]!, T.registerIdentity, registerIdentity(owner));
    const opkIds = Array.from({ length: 20 }, (_, i) => i);
    await requestJson(requesters[0]!, T.registerBundle, registerBundle(owner, opkIds));

    // Every v1 device receives every response: one of them counts the replies per correlation data.
    const repliesPerCorrelation = new Map<string, number>();
    requesters[0]!.client.on('message', (_topic, _payload, packet) => {
      const key = packet.properties?.correlationData?.toString('hex');
      if (key) repliesPerCorrelation.set(key, (repliesPerCorrelation.get(key) ?? 0) + 1);
    });
    const bundlesBefore = await Promise.all(replicas.map((r) => servedByReplica(r, 'bundle')));

    const bundles = await Promise.all(requesters.map((device) => requestJson(device, wireV1.bundleTopic(owner)))) as
      { opk_id: number; opk_b64?: string }[];

    const handedOut = bundles.filter((b) => b.opk_id !== -1);
    assert.deepEqual(handedOut.map((b) => b.opk_id).sort((a, b) => a - b), opkIds);
    assert.equal(new Set(handedOut.map((b) => b.opk_b64)).size, opkIds.length);
    assert.ok(bundles.filter((b) => b.opk_id === -1).every((b) => !('opk_b64' in b)));
    assert.equal(bundles.length - handedOut.length, 30);

    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(repliesPerCorrelation.size, 50);
    assert.deepEqual([...new Set(repliesPerCorrelation.values())], [1]);
    const bundlesAfter = await Promise.all(replicas.map((r) => servedByReplica(r, 'bundle')));
    const perReplica = bundlesAfter.map((n, i) => n - bundlesBefore[i]!);
    assert.equal(perReplica[0]! + perReplica[1]!, 50);
    assert.ok(perReplica.every((n) => n > 0), `both replicas take requests (${perReplica.join(' + ')})`);
  });

  test('20 initiators send initial messages to one recipient at once; 20 inbox reads return all 20', () =>
    twentyInitialMessagesToOneRecipient(env));
});

describe('concurrency on embedded postgresql + embedded broker', { timeout: 120_000 }, () => {
  let env: Environment;
  before(async () => { env = await startEmbeddedEnvironment(); });
  after(() => env?.close());

  test('20 initiators send initial messages to one recipient at once; 20 inbox reads return all 20', () =>
    twentyInitialMessagesToOneRecipient(env));
});
