import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { encodeBase64url as b64, generateKeyPair, wireV2 } from '@x3dh-iot/protocol';
import { enrolmentBody, preKeyBatch, type V2Response, type V2TestDevice } from '@x3dh-iot/testkit';
import type { Database } from '../src/storage/database.js';
import { insertDevice } from '../src/storage/queries/v2_device_queries.js';
import { purgeV2 } from '../src/v2/v2_purge.js';
import { databaseBackends } from './support/database_backends.js';
import { uniqueName, v2Environments, type V2Environment } from './support/v2_environment.js';

/**
 * The v2 guarantees about keys in transit and at rest (docs/protocol-v2.md sections 6.1, 6.3, 6.4):
 * enrolment tokens proven by a MAC, never sent; signed prekey signatures over (name, id, key);
 * records of handed-out one-time prekeys, forgotten once the device has deleted their private keys
 * or after two retention periods. On PostgreSQL + Mosquitto and on the embedded defaults.
 */

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

function errorOf(response: V2Response): { code: string; message: string } {
  if (response.ok) assert.fail(`expected an error, got ${JSON.stringify(response.result)}`);
  return response.error;
}

/** Every PUBLISH the device's MQTT client sends from now on: payload and properties, as bytes on the wire carry them. */
function capturePublishes(device: V2TestDevice): Buffer[] {
  const sent: Buffer[] = [];
  device.client.on('packetsend', (packet) => {
    if (packet.cmd !== 'publish') return;
    sent.push(Buffer.from(JSON.stringify({ topic: packet.topic, properties: packet.properties })), Buffer.from(packet.payload as Buffer));
  });
  return sent;
}

/** The forms in which a token, or what it derives its MAC key from, could appear in bytes. */
function tokenForms(token: string): Buffer[] {
  const digest = createHash('sha256').update(token).digest();
  return [Buffer.from(token), digest, Buffer.from(digest.toString('base64url')), Buffer.from(digest.toString('hex'))];
}

for (const { name, start } of v2Environments) {
  describe(`v2 key proofs on ${name}`, { timeout: 300_000 }, () => {
    let env: V2Environment;
    before(async () => { env = await start(); });
    after(async () => { await env?.close(); });

    test('attack: whoever reads the enrolment request on its way to the broker never sees the token', async () => {
      const device = await env.device(uniqueName('alice'));
      const sent = capturePublishes(device);
      const token = await env.issueToken();
      const response = await device.enroll(token);
      assert.ok(sent.length >= 2, 'the request was captured');
      for (const bytes of sent) {
        for (const form of tokenForms(token)) assert.equal(bytes.includes(form), false, 'the token or its digest travels in the request');
      }
      result(response);
    });

    test('attack: a captured enrolment request replayed with another name or identity key is refused, and the token stays usable', async () => {
      const victimName = uniqueName('victim');
      const victim = await env.device(victimName);
      const token = await env.issueToken();
      // Captured before it reached the server (held back by whoever captured it).
      const requestId = new Uint8Array(randomBytes(16));
      const captured = victim.sign('enroll', enrolmentBody(victimName, victim.identity.publicKey, requestId, token), { requestId });
      const body = JSON.parse(captured.payload.toString('utf8')) as Record<string, string>;
      await victim.close();

      const thief = await env.device(uniqueName('thief'));
      const ownKey = { ...body, identity_key: b64(thief.identity.publicKey) };
      const another = errorOf(await thief.request('enroll', ownKey));
      assert.equal(another.code, 'enrolment_required', 'another name and key');
      assert.match(another.message, /proof does not verify/);
      // The body as captured under another name: the thief cannot sign for the victim's key.
      assert.equal(errorOf(await thief.request('enroll', body)).code, 'bad_signature', 'another name, the body as captured');
      // The victim's name with the thief's key.
      const squatter = await env.device(victimName, { identity: thief.identity });
      const sameName = errorOf(await squatter.request('enroll', ownKey));
      assert.equal(sameName.code, 'enrolment_required', 'the same name, another key');
      assert.match(sameName.message, /proof does not verify/);
      await squatter.close();

      const genuine = await env.device(victimName, { identity: victim.identity });
      assert.deepEqual(result(await genuine.send(captured)), { device: victimName, identity_key: b64(victim.identity.publicKey) },
        'the genuine request still enrols: no refused attempt used up the token');
      const later = await env.device(uniqueName('later'));
      assert.equal(errorOf(await later.enroll(token)).code, 'enrolment_required', 'the token is single-use');
    });

    test('attack: a wrong enrolment token, or a forged proof for a real token id, is refused with enrolment_required', async () => {
      const device = await env.device(uniqueName('guess'));
      await env.issueToken();
      const wrong = errorOf(await device.enroll(randomBytes(32).toString('base64url')));
      assert.equal(wrong.code, 'enrolment_required');
      assert.match(wrong.message, /unknown, used, revoked, expired/);
      const token = await env.issueToken();
      const requestId = new Uint8Array(randomBytes(16));
      const genuine = enrolmentBody(device.name, device.identity.publicKey, requestId, token);
      const forged = { ...genuine, token_proof: b64(randomBytes(32)) };
      const refused = errorOf(await device.request('enroll', forged, { requestId }));
      assert.equal(refused.code, 'enrolment_required');
      assert.match(refused.message, /wrong token/);
      assert.equal(errorOf(await device.request('enroll', { identity_key: genuine.identity_key, token })).code, 'bad_request',
        'the token itself is not accepted in a request');
      result(await device.enroll(token));
    });

    test('attack: a signed prekey whose signature covers only the key, or another id or name, is refused on upload', async () => {
      const alice = await env.enrolled(uniqueName('alice'), { oneTimePreKeys: 1 });
      const keyOnly = preKeyBatch(alice, { signedPreKeyId: 2, keyOnlySignature: true }).body;
      assert.equal(errorOf(await alice.request('prekeys.upload', keyOnly)).code, 'bad_prekey_signature');
      const forId3 = preKeyBatch(alice, { signedPreKeyId: 3 }).body.signed_prekey!;
      assert.equal(errorOf(await alice.request('prekeys.upload', { signed_prekey: { ...forId3, id: 2 } })).code, 'bad_prekey_signature');
      const forOther = preKeyBatch({ name: 'someone-else', identity: alice.identity }, { signedPreKeyId: 2 }).body;
      assert.equal(errorOf(await alice.request('prekeys.upload', forOther)).code, 'bad_prekey_signature');
      assert.equal(result(await alice.request('prekeys.status')).signed_prekey_id, 1, 'nothing stored');
      assert.equal(result(await alice.request('prekeys.upload', preKeyBatch(alice, { signedPreKeyId: 2 }).body)).signed_prekey_id, 2);
    });

    test('prekeys.status lists the handed-out one-time prekeys with their time and the retention, and forgets those the device reports deleted', async () => {
      const bob = await env.enrolled(uniqueName('bob'), { oneTimePreKeys: 3 });
      const alice = await env.enrolled(uniqueName('alice'), { oneTimePreKeys: 1 });
      const before = Date.now();
      result(await alice.request('bundle.fetch', { device: bob.name }));
      result(await alice.request('bundle.fetch', { device: bob.name }));
      const status = wireV2.results['prekeys.status'].parse(result(await bob.request('prekeys.status')));
      assert.deepEqual(status.handed_out_one_time_prekeys!.map((h) => h.id), [1, 2]);
      for (const h of status.handed_out_one_time_prekeys!) assert.ok(Math.abs(h.handed_out_at - before) < 60_000, 'dated at the hand-out');
      assert.equal(status.message_retention_ms, 14 * 24 * 3600 * 1000);
      const after = wireV2.results['prekeys.status'].parse(result(await bob.request('prekeys.status', { forget_handed_out_through: 1 })));
      assert.deepEqual(after.handed_out_one_time_prekeys!.map((h) => h.id), [2]);
      assert.deepEqual(
        wireV2.results['prekeys.status'].parse(result(await alice.request('prekeys.status'))).handed_out_one_time_prekeys, [],
        'only the device\'s own hand-outs');
    });
  });
}

for (const backend of databaseBackends('handouts')) {
  describe(`hand-out records on ${backend.name}`, { timeout: 120_000 }, () => {
    let database: Database;
    let close: () => Promise<void>;
    before(async () => { ({ database, close } = await backend.open({ migrated: true })); });
    after(async () => { await close?.(); });

    test('records are purged two retention periods after the hand-out, not before (bounded storage)', async () => {
      const retention = 14 * 24 * 3600;
      const count = async () => (await database.transaction((sql) =>
        sql.query<{ n: number }>('SELECT count(*)::integer AS n FROM one_time_prekey_handouts')))[0]!.n;
      await database.transaction(async (sql) => {
        const id = await insertDevice(sql, 'bob', generateKeyPair().publicKey);
        await sql.query(
          `INSERT INTO one_time_prekey_handouts (user_id, key_id, handed_out_at)
           VALUES ($1::bigint, 1, now()), ($1::bigint, 2, now() - interval '20 days')`, [id]);
      });
      const day = 24 * 3600 * 1000;
      await purgeV2(database, 300, Date.now() + 7 * day, retention);
      assert.equal(await count(), 2, 'on a clock 7 days ahead, both are younger than 28 days');
      await purgeV2(database, 300, Date.now() + 9 * day, retention);
      assert.equal(await count(), 1, 'on a clock 9 days ahead, the one handed out 20 days ago is 29 days old');
      await purgeV2(database, 300, Date.now() + 28 * day + 60_000, retention);
      assert.equal(await count(), 0);
    });
  });
}
