import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { wireV1 } from '@x3dh-iot/protocol';
import type { MqttRequester } from '@x3dh-iot/transport';
import { requestJson } from '@x3dh-iot/testkit';
import { environments, type Environment } from './support/environments.js';
import { chatMessage, initialMessage, key, registerBundle, registerIdentity, uniqueName } from './support/v1_fixtures.js';

const T = wireV1.V1_TOPICS;

for (const { name, start } of environments) {
  describe(`v1 operations on ${name}`, { timeout: 120_000 }, () => {
    let env: Environment;
    let device: MqttRequester;
    const ask = (topic: string, payload: unknown = {}) => requestJson(device, topic, payload);

    before(async () => {
      env = await start();
      device = await env.device();
    });
    after(() => env?.close());

    test('registration: same name and key is idempotent, another key gets name2, name3', async () => {
      const stem = uniqueName('alice');
      const ik = key();
      assert.deepEqual(await ask(T.registerIdentity, registerIdentity(stem, ik)), { status: 'created', username: stem });
      assert.deepEqual(await ask(T.registerIdentity, registerIdentity(stem, ik)), { status: 'created', username: stem });
      const other = key();
      assert.deepEqual(await ask(T.registerIdentity, registerIdentity(stem, other)), { status: 'created', username: `${stem}2` });
      assert.deepEqual(await ask(T.registerIdentity, registerIdentity(stem, other)), { status: 'created', username: `${stem}2` });
      assert.deepEqual(await ask(T.registerIdentity, registerIdentity(stem)), { status: 'created', username: `${stem}3` });
      const { users } = await ask(T.users) as { users: string[] };
      assert.deepEqual(users.filter((u) => u.startsWith(stem)), [stem, `${stem}2`, `${stem}3`]);
    });

    test('names the firmware can send are accepted, blanks at either end included', async () => {
      for (const name of [` ${uniqueName('lead')}`, `${uniqueName('trail')} `, `${uniqueName('in')} side`]) {
        assert.deepEqual(await ask(T.registerIdentity, registerIdentity(name, key())), { status: 'created', username: name });
        assert.ok(((await ask(T.users)) as { users: string[] }).users.includes(name));
        // Its own topic level reaches it: a registered name without a bundle.
        assert.deepEqual(await ask(wireV1.bundleTopic(name)), { error: 'Bundle not found' });
      }
    });

    test('bundle: each one-time prekey handed out once, then opk_id -1 without opk_b64', async () => {
      const bob = uniqueName('bob');
      const ik = key();
      await ask(T.registerIdentity, registerIdentity(bob, ik));
      assert.deepEqual(await ask(wireV1.bundleTopic(bob)), { error: 'Bundle not found' });
      assert.deepEqual(await ask(T.registerBundle, registerBundle(bob, [7, 8])), { status: 'bundle created' });
      const first = await ask(wireV1.bundleTopic(bob)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(first), ['ik_b64', 'spk_b64', 'spk_sig_b64', 'opk_id', 'opk_b64']);
      assert.equal(first.ik_b64, Buffer.from(ik).toString('base64url'));
      assert.equal(first.opk_id, 7);
      assert.equal((await ask(wireV1.bundleTopic(bob)) as { opk_id: number }).opk_id, 8);
      const empty = await ask(wireV1.bundleTopic(bob)) as Record<string, unknown>;
      assert.equal(empty.opk_id, -1);
      assert.equal('opk_b64' in empty, false);
      // A new upload replaces all one-time prekeys.
      await ask(T.registerBundle, registerBundle(bob, [0, 1]));
      assert.equal((await ask(wireV1.bundleTopic(bob)) as { opk_id: number }).opk_id, 0);
      await ask(T.registerBundle, registerBundle(bob, [5]));
      assert.equal((await ask(wireV1.bundleTopic(bob)) as { opk_id: number }).opk_id, 5);
      assert.equal((await ask(wireV1.bundleTopic(bob)) as { opk_id: number }).opk_id, -1);
      assert.deepEqual(await ask(T.registerBundle, registerBundle(uniqueName('nobody'))), { error: 'User not found' });
      assert.deepEqual(await ask(wireV1.bundleTopic(uniqueName('nobody'))), { error: 'Bundle not found' });
    });

    test('initial messages queue per recipient, oldest first, never overwritten', async () => {
      const carol = uniqueName('carol');
      await ask(T.registerIdentity, registerIdentity(carol));
      const sent = [initialMessage(carol, 'a', 'first'), initialMessage(carol, 'b', 'second'), initialMessage(carol, 'c', 'third')];
      for (const message of sent) assert.deepEqual(await ask(T.initialMessage, message), { status: 'delivered' });
      for (const message of sent) {
        const expected = JSON.parse(message) as Record<string, unknown>;
        const got = await ask(wireV1.inboxTopic(carol)) as Record<string, unknown>;
        assert.deepEqual(Object.keys(got), ['from_user', 'ik_b64', 'ek_b64', 'opk_id', 'ciphertext_b64', 'ad_b64', 'nonce_b64']);
        assert.deepEqual(got, {
          from_user: expected.from, ik_b64: expected.ik_b64, ek_b64: expected.ek_b64, opk_id: expected.opk_id,
          ciphertext_b64: expected.ciphertext_b64, ad_b64: expected.ad_b64, nonce_b64: expected.nonce_b64,
        });
      }
      assert.deepEqual(await ask(wireV1.inboxTopic(carol)), { error: 'Empty inbox', code: 404 });
      assert.deepEqual(await ask(T.initialMessage, initialMessage(uniqueName('nobody'), 'a')), { error: 'User not found' });
    });

    test('chat messages keep their order and are deleted only once handed out', async () => {
      const dave = uniqueName('dave');
      const erin = uniqueName('erin');
      await ask(T.registerIdentity, registerIdentity(dave));
      await ask(T.registerIdentity, registerIdentity(erin));
      assert.deepEqual(await ask(T.chatFetch, wireV1.chatFetchPayload(dave, erin)), []);
      const texts = ['one', 'two', 'three'];
      for (const text of texts) assert.deepEqual(await ask(T.chatSend, chatMessage(erin, dave, text)), { status: 'delivered' });
      await ask(T.chatSend, chatMessage('someone-else', dave, 'other conversation'));
      const got = await ask(T.chatFetch, wireV1.chatFetchPayload(dave, erin)) as { ciphertext_b64: string; nonce_b64: string }[];
      assert.deepEqual(got.map((m) => Buffer.from(m.ciphertext_b64, 'base64url').toString().replace(/\.+$/, '')), texts);
      assert.deepEqual(Object.keys(got[0]!), ['ciphertext_b64', 'nonce_b64']);
      assert.deepEqual(await ask(T.chatFetch, wireV1.chatFetchPayload(dave, erin)), []);
      assert.equal((await ask(T.chatFetch, wireV1.chatFetchPayload(dave, 'someone-else')) as unknown[]).length, 1);
    });

    test('malformed requests get an error reply and change nothing', async () => {
      const frank = uniqueName('frank');
      const cases: [string, unknown, string | RegExp][] = [
        [T.registerIdentity, 'not json', 'payload is not valid UTF-8 JSON'],
        [T.registerIdentity, { username: frank }, 'Missing fields'],
        [T.registerIdentity, { username: frank, ik_b64: 'AAAA' }, /key must be 32 bytes/],
        [T.registerIdentity, { username: frank, ik_b64: 'a+b/' + 'A'.repeat(39) }, /ik_b64/],
        [T.registerIdentity, { username: `${frank}/x`, ik_b64: Buffer.from(key()).toString('base64url') }, /must not contain/],
        [T.registerIdentity, { username: 'x'.repeat(65), ik_b64: Buffer.from(key()).toString('base64url') }, /at most 64/],
        [T.registerIdentity, { username: 5, ik_b64: Buffer.from(key()).toString('base64url') }, /username: must be a string/],
        [T.registerBundle, { username: frank, spk_b64: Buffer.from(key()).toString('base64url'), spk_sig_b64: 'AA', opks_b64: [] }, /signature must be 64 bytes/],
        // A small-order identity key (u = 1) and a non-canonical prekey (bit 255 set): others' agreements with them would be all zeros or ambiguous.
        [T.registerIdentity, { username: frank, ik_b64: Buffer.from([1, ...new Uint8Array(31)]).toString('base64url') }, /ik_b64: X25519 public key has small order/],
        [T.registerBundle, { username: frank, spk_b64: Buffer.alloc(32, 0x80).toString('base64url'), spk_sig_b64: Buffer.alloc(64).toString('base64url'), opks_b64: [] }, /spk_b64: bit 255/],
        [T.registerBundle, {
          username: frank, spk_b64: Buffer.from(key()).toString('base64url'), spk_sig_b64: Buffer.alloc(64).toString('base64url'),
          opks_b64: [{ id: 1, key: Buffer.alloc(32).toString('base64url') }],
        }, /opks_b64\.0\.key: X25519 public key has small order/],
        [T.initialMessage, { to: frank }, 'Missing fields'],
        [T.chatSend, { from: 'a', to: frank, ciphertext_b64: 'AA', nonce_b64: 'AA' }, /ciphertext must be at least 16 bytes/],
        [T.chatSend, 'x'.repeat(70 * 1024), /Payload too large/],
        [`${T.bundlePrefix}/a/b`, {}, /must not contain/],
        ['x3dh/req/nothing', {}, 'Unknown topic'],
      ];
      for (const [topic, payload, expected] of cases) {
        const reply = await ask(topic, payload) as { error: string };
        if (typeof expected === 'string') assert.equal(reply.error, expected, `${topic} ${JSON.stringify(payload).slice(0, 80)}`);
        else assert.match(reply.error, expected, `${topic} ${JSON.stringify(payload).slice(0, 80)}`);
      }
      const { users } = await ask(T.users) as { users: string[] };
      assert.equal(users.some((u) => u.startsWith(frank)), false);
    });

    test('a redelivered request (same topic, correlation data, payload) is processed once and answered again', async () => {
      const gina = uniqueName('gina');
      await ask(T.registerIdentity, registerIdentity(gina));
      await ask(T.registerBundle, registerBundle(gina, [1, 2, 3]));
      const replies: string[] = [];
      const correlationData = Buffer.from('123456789');
      const onMessage = (_topic: string, payload: Buffer, packet: { properties?: { correlationData?: Buffer } }) => {
        if (packet.properties?.correlationData?.equals(correlationData)) replies.push(payload.toString());
      };
      device.client.on('message', onMessage);
      const publish = () => device.client.publishAsync(wireV1.bundleTopic(gina), '{}', {
        qos: 1, properties: { responseTopic: T.response, correlationData },
      });
      await publish();
      await publish();
      const deadline = Date.now() + 5000;
      while (replies.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      device.client.off('message', onMessage);
      assert.equal(replies.length, 2);
      assert.equal(replies[0], replies[1]);
      assert.equal((JSON.parse(replies[0]!) as { opk_id: number }).opk_id, 1);
      // The duplicate claimed nothing: the next fetch gets the second key.
      assert.equal((await ask(wireV1.bundleTopic(gina)) as { opk_id: number }).opk_id, 2);
    });

    test('a request without a Response Topic is processed without a reply', async () => {
      const hank = uniqueName('hank');
      await ask(T.registerIdentity, registerIdentity(hank));
      await device.client.publishAsync(T.chatSend, chatMessage('ivy', hank, 'silent'), { qos: 1 });
      const deadline = Date.now() + 5000;
      let got: unknown[] = [];
      while (got.length === 0 && Date.now() < deadline) {
        got = await ask(T.chatFetch, wireV1.chatFetchPayload(hank, 'ivy')) as unknown[];
      }
      assert.equal(got.length, 1);
    });
  });
}
