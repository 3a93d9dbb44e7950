import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeBase64url, generateKeyPair, wireV1, wireV2 } from '@x3dh-iot/protocol';
import { closeV1Device, connectV1Device, requestJson, type V2Response, type V2TestDevice } from '@x3dh-iot/testkit';
import type { MqttRequester } from '@x3dh-iot/transport';
import { chatMessage, initialMessage, key, registerBundle, registerIdentity } from './support/v1_fixtures.js';
import { startV2Embedded, startV2Postgres, uniqueName, type V2Environment } from './support/v2_environment.js';

/**
 * With --enable-v1, v1 requests (unauthenticated: anyone on the broker can send them) must not
 * read, change or hand out anything of a device enrolled over v2, deleted or not, whichever v1
 * operation names it; and v1 bundle requests hand out one-time prekeys only within the target's
 * limit (docs/protocol-v2.md sections 6.1, 6.5 and the v1 note of the server README).
 */

const T = wireV1.V1_TOPICS;
// v1 devices have no client certificate: the PostgreSQL variant's Mosquitto lets them in with TLS only.
const environments = [
  { name: 'postgresql + mosquitto (TLS 1.3)', start: () => startV2Postgres(['--enable-v1'], { clientCertificates: false }) },
  { name: 'embedded postgresql + embedded broker', start: () => startV2Embedded(['--enable-v1']) },
];

/** The default of --target-fetch-burst: one-time prekeys per target handed out at once. */
const TARGET_BURST = 20;

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

interface Status { one_time_prekeys: number; signed_prekey_id: number | null; signed_prekey_digest?: string | null }

for (const { name, start } of environments) {
  describe(`v1 and v2 namespaces on ${name}, with --enable-v1`, { timeout: 300_000 }, () => {
    let env: V2Environment;
    let v1: MqttRequester;
    before(async () => {
      env = await start();
      v1 = await connectV1Device(env.brokerUrl, { ca: env.ca });
    });
    after(async () => {
      if (v1) await closeV1Device(v1);
      await env?.close();
    });
    const status = async (device: V2TestDevice) => result(await device.request('prekeys.status')) as unknown as Status;

    test('attack: a v1 bundle upload under a v2 device\'s name replaces none of its keys', async () => {
      const alice = await env.enrolled(uniqueName('alice'), { oneTimePreKeys: 5 });
      const before = await status(alice);
      assert.deepEqual(await requestJson(v1, T.registerBundle, registerBundle(alice.name, [1, 2, 3])), { error: 'User not found' });
      assert.deepEqual(await status(alice), before);
      // Peers still get the signed prekey alice signed, and prekeys.status names it by its digest.
      const bob = await env.enrolled(uniqueName('bob'));
      const bundle = result(await bob.request('bundle.fetch', { device: alice.name }));
      const spk = bundle.signed_prekey as { id: number; key: string; signature: string };
      const held = { id: spk.id, key: decodeBase64url(spk.key), signature: decodeBase64url(spk.signature) };
      assert.ok(wireV2.verifySignedPreKey(alice.identity.publicKey, alice.name, held.id, held.key, held.signature));
      assert.equal(before.signed_prekey_digest, wireV2.signedPreKeyDigest(held));
    });

    test('attack: a v1 identity registration with a v2 device\'s name and key does not give v1 that name', async () => {
      const alice = await env.enrolled(uniqueName('alice'), { oneTimePreKeys: 2 });
      const taken = await requestJson(v1, T.registerIdentity, registerIdentity(alice.name, alice.identity.publicKey)) as { username: string };
      assert.notEqual(taken.username, alice.name);
      assert.deepEqual(await requestJson(v1, T.registerBundle, registerBundle(alice.name, [9])), { error: 'User not found' });
      assert.equal((await status(alice)).one_time_prekeys, 2);
      assert.ok(!((await requestJson(v1, T.users)) as { users: string[] }).users.includes(alice.name));
    });

    test('attack: v1 bundle requests hand out nothing of a v2 device, enrolled or deleted', async () => {
      const alice = await env.enrolled(uniqueName('alice'), { oneTimePreKeys: 5 });
      for (let i = 0; i < 6; i += 1) {
        assert.deepEqual(await requestJson(v1, wireV1.bundleTopic(alice.name)), { error: 'Bundle not found' });
      }
      assert.equal((await status(alice)).one_time_prekeys, 5, 'no one-time prekey went to v1');
      result(await alice.request('device.delete'));
      assert.deepEqual(await requestJson(v1, wireV1.bundleTopic(alice.name)), { error: 'Bundle not found' });
      assert.deepEqual(await requestJson(v1, T.registerBundle, registerBundle(alice.name)), { error: 'User not found' });
    });

    test('attack: v1 initial messages, inbox reads and chat never reach a v2 device', async () => {
      const alice = await env.enrolled(uniqueName('alice'));
      assert.deepEqual(await requestJson(v1, T.initialMessage, initialMessage(alice.name, 'mallory')), { error: 'User not found' });
      assert.deepEqual(await requestJson(v1, wireV1.inboxTopic(alice.name)), { error: 'Empty inbox', code: 404 });
      assert.deepEqual(await requestJson(v1, T.chatSend, chatMessage('mallory', alice.name, 'hi')), { error: 'User not found' });
      assert.deepEqual(await requestJson(v1, T.chatFetch, { to: alice.name, from: 'mallory' }), []);
      assert.deepEqual(result(await alice.request('mailbox.fetch', {})).messages, []);
    });

    test('attack: a name registered over v1 is not enrolled over v2 by its key without a token', async () => {
      const identity = generateKeyPair();
      const name = uniqueName('squat');
      assert.deepEqual(await requestJson(v1, T.registerIdentity, registerIdentity(name, identity.publicKey)), { status: 'created', username: name });
      const device = await env.device(name, { identity });
      const enrolled = await device.enroll();
      assert.ok(!enrolled.ok && enrolled.error.code === 'name_taken', JSON.stringify(enrolled));
      const other = await env.enrolled(uniqueName('bob'));
      const fetched = await other.request('bundle.fetch', { device: name });
      assert.ok(!fetched.ok && fetched.error.code === 'unknown_device');
    });

    test('attack: v1 bundle requests drain a v1 device\'s one-time prekeys no faster than its per-target limit', async () => {
      const bob = uniqueName('bob');
      await requestJson(v1, T.registerIdentity, registerIdentity(bob, key()));
      const ids = Array.from({ length: TARGET_BURST + 10 }, (_, i) => i);
      assert.deepEqual(await requestJson(v1, T.registerBundle, registerBundle(bob, ids)), { status: 'bundle created' });
      const handedOut: number[] = [];
      for (let i = 0; i < TARGET_BURST + 10; i += 1) {
        const bundle = await requestJson(v1, wireV1.bundleTopic(bob)) as { opk_id: number; spk_b64: string };
        assert.ok(bundle.spk_b64, 'the bundle itself still goes out');
        if (bundle.opk_id !== -1) handedOut.push(bundle.opk_id);
      }
      // One more may have been refilled while the test ran (one per minute by default).
      assert.ok(handedOut.length >= TARGET_BURST && handedOut.length <= TARGET_BURST + 1, `handed out ${handedOut.length}`);
      assert.equal(new Set(handedOut).size, handedOut.length);
    });
  });
}
