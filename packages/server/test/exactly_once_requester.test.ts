import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { wireV1 } from '@x3dh-iot/protocol';
import { connectMqtt, MqttRequester } from '@x3dh-iot/transport';
import type { V2Response } from '@x3dh-iot/testkit';
import { startEmbeddedEnvironment, startPostgresEnvironment, type Environment } from './support/environments.js';
import { registerBundle, registerIdentity, uniqueName } from './support/v1_fixtures.js';
import { startV2Postgres, uniqueName as uniqueV2Name, type V2Environment } from './support/v2_environment.js';

/**
 * The exactly-once record of a request names its requester: two devices sending the same request
 * with equal Correlation Data (a v1 client counting its requests, or a chance collision of v1's
 * 32-bit numbers) are two requests, each answered on its own, never one recorded reply for both.
 */

const T = wireV1.V1_TOPICS;

function oneTimePreKeyId(response: V2Response): number {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return (response.result.one_time_prekey as { id: number }).id;
}

const v1Environments = [
  { name: 'postgresql + mosquitto with 2 replicas', start: async () => {
    const env = await startPostgresEnvironment();
    await env.addReplica();
    return env;
  } },
  { name: 'the embedded defaults', start: startEmbeddedEnvironment },
];

for (const { name, start } of v1Environments) describe(`exactly-once records name the requester, v1 on ${name}`, { timeout: 60_000 }, () => {
  let env: Environment;
  const requesters: MqttRequester[] = [];

  before(async () => { env = await start(); });
  after(async () => {
    for (const requester of requesters) {
      requester.close();
      await requester.client.endAsync();
    }
    await env?.close();
  });

  /** A v1 client answered on a Response Topic of its own, always sending the same Correlation Data. */
  async function countingClient(name: string): Promise<MqttRequester> {
    const client = await connectMqtt({ url: env.brokerUrl, ca: env.ca });
    const requester = await MqttRequester.start(client, {
      responseTopic: `x3dh/resp/${name}`, newCorrelation: () => Buffer.from('1', 'ascii'),
    });
    requesters.push(requester);
    return requester;
  }

  test('attack: two v1 devices fetch one bundle with equal Correlation Data and get different one-time prekeys', async () => {
    const [first, second] = [await countingClient(uniqueName('first')), await countingClient(uniqueName('second'))];
    const owner = uniqueName('owner');
    const register = async (topic: string, body: string) => JSON.parse((await first.request(topic, body)).payload.toString());
    assert.equal((await register(T.registerIdentity, registerIdentity(owner))).status, 'created');
    await register(T.registerBundle, registerBundle(owner, [0, 1, 2, 3]));

    const fetch = async (requester: MqttRequester) =>
      (JSON.parse((await requester.request(wireV1.bundleTopic(owner), '')).payload.toString()) as { opk_id: number }).opk_id;
    const ids = [await fetch(first), await fetch(second)];
    assert.notEqual(ids[0], ids[1], `both devices were handed one-time prekey ${ids[0]}`);
    assert.deepEqual(ids.sort(), [0, 1]);
  });
});

describe('exactly-once records name the requester, v2 on postgresql + mosquitto with 2 replicas', { timeout: 60_000 }, () => {
  let env: V2Environment;

  before(async () => {
    env = await startV2Postgres();
    await env.addReplica();
  });
  after(() => env?.close());

  test('attack: two v2 devices fetch one bundle with the same request id and get different one-time prekeys', async () => {
    const owner = await env.enrolled(uniqueV2Name('owner'), { oneTimePreKeys: 4 });
    const first = await env.enrolled(uniqueV2Name('first'));
    const second = await env.enrolled(uniqueV2Name('second'));
    const requestId = new Uint8Array(randomBytes(16));
    const ids = [
      oneTimePreKeyId(await first.request('bundle.fetch', { device: owner.name }, { requestId })),
      oneTimePreKeyId(await second.request('bundle.fetch', { device: owner.name }, { requestId })),
    ];
    assert.deepEqual(ids.sort(), [1, 2]);
  });
});
