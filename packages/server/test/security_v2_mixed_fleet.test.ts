import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { wireV1 } from '@x3dh-iot/protocol';
import { closeV1Device, connectV1Device, requestJson, type V2Response } from '@x3dh-iot/testkit';
import type { MqttRequester } from '@x3dh-iot/transport';
import { key, registerBundle, registerIdentity } from './support/v1_fixtures.js';
import { startV2Embedded, startV2Postgres, uniqueName, type V2Environment } from './support/v2_environment.js';

/**
 * security-v2 item 19: v1 stays available for unmodified devices when the operator enables it, on
 * the same server and store as v2, with one name space (a name never taken by another key,
 * idempotent re-registration) but separate devices: v1 requests see only v1 devices
 * (v1_v2_namespaces.test.ts attacks that), and v2 sees only v2 devices. Without --enable-v1 a v1
 * request gets no service at all.
 */

const T = wireV1.V1_TOPICS;
// v1 devices have no client certificate: the PostgreSQL variant's Mosquitto lets them in with TLS only.
const environments = [
  { name: 'postgresql + mosquitto (TLS 1.3)', start: (args: string[]) => startV2Postgres(args, { clientCertificates: false }) },
  { name: 'embedded postgresql + embedded broker', start: (args: string[]) => startV2Embedded(args) },
];

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

for (const { name, start } of environments) {
  describe(`security-v2 item 19 on ${name}, with --enable-v1`, { timeout: 300_000 }, () => {
    let env: V2Environment;
    let v1: MqttRequester;
    before(async () => {
      env = await start(['--enable-v1']);
      v1 = await connectV1Device(env.brokerUrl, { ca: env.ca });
    });
    after(async () => {
      if (v1) await closeV1Device(v1);
      await env?.close();
    });

    test('security-v2 item 19: v1 and v2 devices share one server, each protocol seeing only its own devices', async () => {
      const alice = await env.enrolled(uniqueName('alice'), { oneTimePreKeys: 3 });
      const oldName = uniqueName('v1dev');
      const oldKey = key();
      assert.deepEqual(await requestJson(v1, T.registerIdentity, registerIdentity(oldName, oldKey)), { status: 'created', username: oldName });
      assert.deepEqual(await requestJson(v1, T.registerBundle, registerBundle(oldName, [7, 8])), { status: 'bundle created' });
      // Neither directory lists the other protocol's devices.
      assert.ok(!(result(await alice.request('directory.list')).devices as string[]).includes(oldName));
      assert.ok(!((await requestJson(v1, T.users)) as { users: string[] }).users.includes(alice.name));
      assert.ok(((await requestJson(v1, T.users)) as { users: string[] }).users.includes(oldName));
      // v2 hands out nothing of a v1 device, and v1 nothing of a v2 device.
      const bob = await env.enrolled(uniqueName('bob'));
      const v2Fetch = await bob.request('bundle.fetch', { device: oldName });
      assert.ok(!v2Fetch.ok && v2Fetch.error.code === 'unknown_device');
      const v2Lookup = await bob.request('directory.lookup', { device: oldName });
      assert.ok(!v2Lookup.ok && v2Lookup.error.code === 'unknown_device');
      assert.equal(((await requestJson(v1, wireV1.bundleTopic(oldName))) as { opk_id: number }).opk_id, 7, 'no v1 key was handed out by v2');
      assert.deepEqual(await requestJson(v1, wireV1.bundleTopic(alice.name)), { error: 'Bundle not found' });
      assert.equal((result(await bob.request('bundle.fetch', { device: alice.name })).one_time_prekey as { id: number }).id, 1);
      assert.equal(result(await alice.request('prekeys.status')).one_time_prekeys, 2);
    });

    test('security-v2 item 19: a v1 registration never takes a v2 device\'s name, and re-registering the same v1 key is idempotent', async () => {
      const alice = await env.enrolled(uniqueName('alice'));
      const taken = await requestJson(v1, T.registerIdentity, registerIdentity(alice.name)) as { username: string };
      assert.notEqual(taken.username, alice.name);
      assert.equal(result(await alice.request('directory.lookup', { device: alice.name })).identity_key,
        Buffer.from(alice.identity.publicKey).toString('base64url'));
      const oldName = uniqueName('v1dev');
      const oldKey = key();
      for (let i = 0; i < 2; i += 1) {
        assert.deepEqual(await requestJson(v1, T.registerIdentity, registerIdentity(oldName, oldKey)), { status: 'created', username: oldName });
      }
      // Nor can a v2 enrolment take the v1 device's name with another key.
      const impostor = await env.device(oldName);
      const enrolled = await impostor.enroll(await env.issueToken());
      assert.ok(!enrolled.ok && enrolled.error.code === 'name_taken');
    });
  });

  describe(`security-v2 item 19 on ${name}, without --enable-v1`, { timeout: 300_000 }, () => {
    let env: V2Environment;
    let v1: MqttRequester | undefined;
    let refused: Error | undefined;
    before(async () => {
      env = await start([]);
      // The embedded broker refuses the v1 response subscription outright (item 2); Mosquitto here has no rules.
      v1 = await connectV1Device(env.brokerUrl, { ca: env.ca, timeoutMs: 3000 }).catch((error: Error) => {
        refused = error;
        return undefined;
      });
    });
    after(async () => {
      if (v1) await closeV1Device(v1);
      await env?.close();
    });

    test('security-v2 item 19: without --enable-v1 a v1 request gets no service and changes nothing', async () => {
      const alice = await env.enrolled(uniqueName('alice'), { oneTimePreKeys: 2 });
      const oldName = uniqueName('v1dev');
      if (v1 === undefined) {
        assert.match(refused!.message, /not authori[sz]ed/i);
      } else {
        await assert.rejects(requestJson(v1, T.registerIdentity, registerIdentity(oldName)), /no response .* within/);
        await assert.rejects(requestJson(v1, wireV1.bundleTopic(alice.name)), /no response .* within/);
        await assert.rejects(requestJson(v1, T.users), /no response .* within/);
      }
      assert.ok(!(result(await alice.request('directory.list')).devices as string[]).includes(oldName));
      assert.equal(result(await alice.request('prekeys.status')).one_time_prekeys, 2, 'no key handed out over v1');
    });
  });
}
