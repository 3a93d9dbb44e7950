import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import {
  aeadEncrypt, decodeBase64url, encodeBase64url as b64, generateKeyPair, type KeyPair, randomAeadNonce, utf8, wireV2, x3dhInitiate, xeddsaSign,
} from '@x3dh-iot/protocol';
import type { V2Response, V2TestDevice } from '@x3dh-iot/testkit';
import { type DeviceState, emptyDeviceState, MemoryKeyStore } from '../src/index.js';
import { realV2Servers, type RealV2Server } from './support/real_v2_server.js';
import { keysAndSessions, refusalReasons, rejects } from './support/v2_devices.js';
import { RecordingKeyStore } from './support/recording_key_store.js';

/**
 * The client side of ../shared/spec/security-v2.md, each guarantee shown by the attack or fault its
 * line forbids, with SecureDevice talking to the real key server (its own process): on PostgreSQL
 * and Mosquitto over TLS 1.3 with a client certificate per device and operator-issued enrolment
 * tokens, and on the embedded defaults (embedded PostgreSQL, embedded broker) with open enrolment switched on.
 * Attackers are raw test devices that sign their own requests through the same server. What only a malicious server
 * can do (a bad signed-prekey signature in a bundle) stays in security_v2.test.ts, on the fake server.
 */

const DAY_MS = 24 * 3600 * 1000;
/** Room for every bundle fetch a test makes (item 6 drains a stock by fetches); item 8 has its own tests with the default. */
const SERVER_ARGS = ['--fetch-burst', '50'];

let counter = 0;
const nameOf = (base: string) => `${base}-${++counter}`;
const messageId = () => b64(randomBytes(wireV2.MESSAGE_ID_BYTES));

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** What a test compares to prove that a refused message changed nothing. */
/** What a test compares to prove that a refused message changed nothing but the record of its refusal. */
const snapshot = (store: MemoryKeyStore): Promise<DeviceState> => keysAndSessions(store);

type Bundle = wireV2.RequestResult<'bundle.fetch'>;

/** The target's bundle as the real server hands it out (one one-time prekey taken). */
async function fetchBundle(attacker: V2TestDevice, target: string): Promise<Bundle> {
  return wireV2.results['bundle.fetch'].parse(result(await attacker.request('bundle.fetch', { device: target })));
}

/** An initial message sealed with `identity` against `bundle`: an attacker's own code, not a device's. */
function sealedInitial(identity: KeyPair, bundle: Bundle, text: string): wireV2.InitialEnvelope {
  return wireV2.sealInitialEnvelope(identity, {
    device: bundle.device, identityKey: bundle.identity_key, signedPreKey: bundle.signed_prekey.key, signedPreKeySignature: bundle.signed_prekey.signature,
    signedPreKeyId: bundle.signed_prekey.id, oneTimePreKey: bundle.one_time_prekey && { id: bundle.one_time_prekey.id, publicKey: bundle.one_time_prekey.key },
  }, utf8.encode(text)).envelope;
}

async function sendInitial(from: V2TestDevice, to: string, envelope: wireV2.InitialEnvelope | Uint8Array): Promise<void> {
  const bytes = envelope instanceof Uint8Array ? envelope : wireV2.encodeInitialEnvelope(envelope);
  result(await from.request('message.send', { to, id: messageId(), type: 'x3dh.initial', envelope: b64(bytes) }));
}

for (const { kind, start } of realV2Servers) {
  describe(`security-v2, device side, through the real key server on ${kind === 'postgresql'
    ? 'postgresql + mosquitto (TLS 1.3, client certificates)' : 'the embedded defaults (embedded postgresql + embedded broker)'}`, { timeout: 900_000 }, () => {
    let server: RealV2Server;
    before(async () => { server = await start(SERVER_ARGS); }, { timeout: 180_000 });
    after(async () => { await server?.close(); }, { timeout: 120_000 });

    /** The messages of `device`'s mailbox as its latest mailbox.fetch through the real server returned them. */
    const lastFetched = (device: string) => {
      const fetches = server.link(device).requests.filter((r) => r.operation === 'mailbox.fetch' && r.response?.ok);
      return (fetches.at(-1)!.response!.result!.messages as { id: string; envelope: string; type: string }[]);
    };
    const acks = (device: string) => server.link(device).requests.filter((r) => r.operation === 'mailbox.ack');

    test('security-v2 item 6: other devices\' bundle fetches drain the stock below the server threshold; the prekeys_low push makes the device refill, and a read with a low prekeys.status does too', async () => {
      const bobName = nameOf('bob');
      const bob = await server.enrolled(bobName, new MemoryKeyStore(), { oneTimePreKeyTarget: 20, oneTimePreKeyLow: 10 });
      bob.listen();
      assert.equal((await bob.preKeyStatus()).one_time_prekeys, 20);
      const published = bob.preKeyIds.oneTime;
      const uploads = () => server.link(bobName).requests.filter((r) => r.operation === 'prekeys.upload').length;
      const uploadsBefore = uploads();

      const fetchers = [await server.rawEnrolled(nameOf('carol')), await server.rawEnrolled(nameOf('dave'))];
      for (let i = 0; i < 11; i++) await fetchBundle(fetchers[i % 2]!, bobName); // 9 left: below the server's threshold of 10
      // Nothing but the push tells the device: it neither polls nor reads its mailbox here.
      await until(async () => (await bob.preKeyStatus()).one_time_prekeys === 20, 'the refill after prekeys_low');
      assert.equal(uploads(), uploadsBefore + 1, 'one refill upload');
      const refilled = bob.preKeyIds.oneTime.filter((id) => !published.includes(id));
      assert.equal(refilled.length, 11);
      assert.ok(refilled.every((id) => id > Math.max(...published)), `refilled ids continue above every earlier id: ${refilled.join(',')}`);

      // Without a push (above the server's threshold, and not listening): a read checks prekeys.status and refills too.
      const eveName = nameOf('eve');
      const eve = await server.enrolled(eveName, new MemoryKeyStore(), { oneTimePreKeyTarget: 20, oneTimePreKeyLow: 15 });
      for (let i = 0; i < 6; i++) await fetchBundle(fetchers[i % 2]!, eveName); // 14 left
      assert.equal((await eve.preKeyStatus()).one_time_prekeys, 14);
      assert.equal(await eve.checkInbox(), null);
      assert.equal((await eve.preKeyStatus()).one_time_prekeys, 20);
    });

    test('attack: a one-time prekey handed out and never used does not stay openable: its private key is deleted once the retention period has passed since the hand-out; a message that arrived within it opened', async () => {
      let now = Date.now();
      const bobName = nameOf('bob');
      const bobStore = new MemoryKeyStore();
      const bob = await server.enrolled(bobName, bobStore, { now: () => new Date(now) });
      const alice = await server.enrolled(nameOf('alice'));
      const used = (await alice.startSession(bobName, 'sent within the period')).oneTimePreKeyId!;
      const unused = (await fetchBundle(await server.rawEnrolled(nameOf('mallory')), bobName)).one_time_prekey!.id;
      const kept = (await bobStore.load()).oneTimePreKeys;
      assert.ok(kept.has(used) && kept.has(unused));
      const retention = (await bob.preKeyStatus()).message_retention_ms!;
      assert.deepEqual((await bob.preKeyStatus()).handed_out_one_time_prekeys!.map((h) => h.id), [used, unused]);

      now += retention - DAY_MS;
      assert.deepEqual(await bob.checkInbox(), { peer: alice.username, text: 'sent within the period', identityChanged: false });
      assert.ok((await bobStore.load()).oneTimePreKeys.has(unused), 'kept within the period');

      now += 2 * DAY_MS;
      await bob.maintain();
      const after = (await bobStore.load()).oneTimePreKeys;
      assert.equal(after.has(unused), false, 'the handed-out key is gone from the store');
      assert.equal(after.has(used), false, 'consumed by the message');
      assert.ok(after.size > 0, 'keys never handed out stay');
      assert.deepEqual((await bob.preKeyStatus()).handed_out_one_time_prekeys, [], 'the server forgot the hand-outs the device reported deleted');
    });

    test('security-v2 item 7: the signed prekey rotates on the device clock\'s schedule; a replaced key opens delayed initial messages within the grace period, and after it is deleted they are refused', async () => {
      let now = Date.now();
      const clock = () => new Date(now);
      const alice = await server.enrolled(nameOf('alice'));
      const carolName = nameOf('carol');
      const carol = await server.enrolled(carolName);
      const bobName = nameOf('bob');
      const bobStore = new MemoryKeyStore();
      const bob = await server.enrolled(bobName, bobStore, { now: clock });
      assert.equal((await bob.preKeyStatus()).signed_prekey_id, 1);

      await alice.startSession(bobName, 'sent to signed prekey 1, read late');
      now += 3 * DAY_MS;
      assert.deepEqual(await bob.maintain(), { rotated: false, uploadedOneTimePreKeys: 0 });
      now += 4 * DAY_MS;
      assert.equal((await bob.maintain()).rotated, true);
      assert.equal((await bob.preKeyStatus()).signed_prekey_id, 2, 'the server hands out the new signed prekey');
      assert.deepEqual(bob.preKeyIds.signed, [1, 2], 'the replaced key is kept');
      assert.deepEqual(await bob.checkInbox(), { peer: alice.username, text: 'sent to signed prekey 1, read late', identityChanged: false });

      await carol.startSession(bobName, 'sent to signed prekey 2, read too late');
      const carolFetch = server.link(carolName).requests.find((r) => r.operation === 'bundle.fetch')!;
      assert.equal((carolFetch.response!.result!.signed_prekey as { id: number }).id, 2);
      now += 7 * DAY_MS;
      assert.equal((await bob.maintain()).rotated, true); // day 14: 3 replaces 2
      now += 31 * DAY_MS;
      await bob.maintain(); // day 45: 2 was replaced 31 days ago
      assert.ok(!bob.preKeyIds.signed.includes(2), `signed prekey 2 deleted after its grace period: ${bob.preKeyIds.signed.join(',')}`);
      assert.ok(!bob.preKeyIds.signed.includes(1));
      const state = await bobStore.load();
      assert.ok(state.v2.acceptedHandshakes.every((h) => h.signedPreKeyId !== 1), 'replay records go with their signed prekey');
      const acksBefore = acks(bobName).length;
      await rejects(bob.checkInbox(), 'SECURITY', /names signed prekey 2, which this device does not hold/);
      assert.match((await refusalReasons(bobStore)).at(-1)!, /names signed prekey 2/, 'the refusal is recorded');
      assert.equal(acks(bobName).length, acksBefore + 1, 'then the refused message is acknowledged');
      assert.equal((await bob.syncMailbox()).problems.length, 0, 'and gone from the mailbox');
    });

    test('security-v2 item 9: a malicious device cannot publish small-order or non-canonical points through the real server, validly signed or not, so no initiator ever fetches one (the initiator\'s own abort: security_v2.test.ts)', async () => {
      const aliceName = nameOf('alice');
      const alice = await server.enrolled(aliceName);
      const mallory = await server.rawEnrolled(nameOf('mallory'), 0);
      const honest = result(await mallory.request('bundle.fetch', { device: mallory.name }));
      const zero = new Uint8Array(32);
      const order8 = Uint8Array.from(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'));
      const highBit = Uint8Array.from(generateKeyPair().publicKey);
      highBit[31]! |= 0x80;
      const refused = (response: V2Response, field: string, why: RegExp) => {
        assert.ok(!response.ok, `refused: ${JSON.stringify(response)}`);
        assert.equal(response.error.code, 'bad_request');
        assert.match(response.error.message, new RegExp(`^${field.replace(/\./g, '\\.')}: ${why.source}`));
      };

      for (const key of [zero, order8]) {
        refused(await mallory.request('prekeys.upload', { one_time_prekeys: [{ id: 1, key: b64(key) }] }),
          'one_time_prekeys.0.key', /X25519 public key has small order/);
        refused(await mallory.request('prekeys.upload', {
          signed_prekey: { id: 2, key: b64(key), signature: b64(wireV2.signSignedPreKey(mallory.identity.privateKey, mallory.name, 2, key)) },
        }), 'signed_prekey.key', /X25519 public key has small order/);
      }
      refused(await mallory.request('prekeys.upload', { one_time_prekeys: [{ id: 1, key: b64(highBit) }] }),
        'one_time_prekeys.0.key', /bit 255 of the X25519 public key is set/);
      const rotation = generateKeyPair();
      refused(await mallory.request('identity.rotate', {
        new_identity_key: b64(zero), proof: b64(xeddsaSign(rotation.privateKey, zero)),
      }), 'new_identity_key', /X25519 public key has small order/);

      assert.deepEqual(result(await mallory.request('bundle.fetch', { device: mallory.name })), honest, 'the bundle is unchanged');
      await alice.startSession(mallory.name, 'x');
      assert.equal(server.link(aliceName).requests.filter((r) => r.operation === 'message.send').length, 1,
        'a session on the honest keys');
    });

    test('security-v2 item 10: the initial message names the signed-prekey and one-time-prekey ids the server handed out, and the responder uses exactly those', async () => {
      const alice = await server.enrolled(nameOf('alice'));
      const carol = await server.enrolled(nameOf('carol'));
      const bobName = nameOf('bob');
      const bob = await server.enrolled(bobName);
      const first = await alice.startSession(bobName, 'first');
      await bob.publishBundle(0); // signed prekey 2 becomes current; 1 stays for the message above
      const second = await carol.startSession(bobName, 'second');
      assert.ok(first.oneTimePreKeyId !== null && second.oneTimePreKeyId !== null);
      const held = bob.preKeyIds.oneTime;

      assert.equal((await bob.syncMailbox()).accepted, 2);
      const named = lastFetched(bobName).map((m) => {
        const envelope = decodeBase64url(m.envelope);
        const decoded = wireV2.decodeAnyInitialEnvelope(envelope);
        assert.ok(decoded.ok && decoded.value.form === 'ratchet');
        const { signedPreKeyId, oneTimePreKeyId } = decoded.value.envelope;
        assert.equal(JSON.parse(Buffer.from(envelope).toString('utf8')).spk_id, signedPreKeyId, 'spk_id is on the wire');
        return { spk: signedPreKeyId, opk: oneTimePreKeyId };
      });
      assert.deepEqual(named, [{ spk: 1, opk: first.oneTimePreKeyId }, { spk: 2, opk: second.oneTimePreKeyId }]);
      assert.deepEqual(bob.preKeyIds.oneTime, held.filter((id) => id !== first.oneTimePreKeyId && id !== second.oneTimePreKeyId),
        'those two one-time prekeys, and no other, were used and deleted');
      assert.deepEqual((await bob.takeUnread()).map((u) => u.text), ['first', 'second']);
    });

    test('security-v2 item 11: forged and tampered initial messages from an attacker device are refused; nothing stored but the record of the refusals, nothing deleted; acknowledged, so they leave the mailbox', async () => {
      const bobName = nameOf('bob');
      const bobStore = new MemoryKeyStore();
      const bob = await server.enrolled(bobName, bobStore);
      const mallory = await server.rawEnrolled(nameOf('mallory'));
      const before = await snapshot(bobStore);
      const refusals: { sent: string; pattern: RegExp; opk: number | null }[] = [];

      // The envelope's identity key is not the one the directory holds for its sender.
      const forgedBundle = await fetchBundle(mallory, bobName);
      await sendInitial(mallory, bobName, sealedInitial(generateKeyPair(), forgedBundle, 'signed by another key'));
      refusals.push({ sent: 'another identity key', pattern: /its identity key is not the one the directory holds for mallory/, opk: forgedBundle.one_time_prekey!.id });

      // Sealed with mallory's own key, one ciphertext byte flipped on the way.
      const tamperedBundle = await fetchBundle(mallory, bobName);
      const tampered = sealedInitial(mallory.identity, tamperedBundle, 'tampered');
      tampered.ciphertext[0]! ^= 1;
      await sendInitial(mallory, bobName, tampered);
      refusals.push({ sent: 'a flipped ciphertext byte', pattern: /it cannot be decrypted/, opk: tamperedBundle.one_time_prekey!.id });

      // Sealed under associated data naming another responder: the responder builds AD itself, so it fails.
      const adBundle = await fetchBundle(mallory, bobName);
      const opk = adBundle.one_time_prekey!;
      const x3dh = x3dhInitiate(mallory.identity, {
        identityKey: adBundle.identity_key, signedPreKey: adBundle.signed_prekey.key, signedPreKeySignature: adBundle.signed_prekey.signature,
        oneTimePreKey: { id: opk.id, publicKey: opk.key },
      }, {
        info: wireV2.X3DH_V2_INFO,
        signedPreKeyMessage: wireV2.signedPreKeySignatureInput(bobName, adBundle.signed_prekey.id, adBundle.signed_prekey.key),
      });
      const wrongAd = wireV2.initialAssociatedData(mallory.identity.publicKey, generateKeyPair().publicKey, adBundle.signed_prekey.id, opk.id, x3dh.ephemeralPublicKey);
      const nonce = randomAeadNonce();
      await sendInitial(mallory, bobName, {
        identityKey: mallory.identity.publicKey, ephemeralKey: x3dh.ephemeralPublicKey, signedPreKeyId: adBundle.signed_prekey.id,
        oneTimePreKeyId: opk.id, nonce, ciphertext: aeadEncrypt(x3dh.sharedKey, nonce, utf8.encode('sealed for someone else'), wrongAd),
      });
      refusals.push({ sent: 'AD naming another responder', pattern: /it cannot be decrypted/, opk: opk.id });

      const { accepted, problems } = await bob.syncMailbox();
      assert.equal(accepted, 0);
      const fetched = lastFetched(bobName);
      assert.equal(fetched.length, 3);
      assert.deepEqual(problems.map((p) => p.mailboxId), fetched.map((m) => m.id));
      const reasons = await refusalReasons(bobStore);
      for (const [i, refusal] of refusals.entries()) {
        assert.equal(problems[i]!.error.kind, 'SECURITY', refusal.sent);
        const pattern = new RegExp(`from ${mallory.name} refused: ${refusal.pattern.source.replace('mallory', mallory.name)}`);
        assert.match(problems[i]!.error.message, pattern, refusal.sent);
        assert.match(reasons[i]!, pattern, `${refusal.sent}: the refusal is recorded`);
        assert.ok(bob.preKeyIds.oneTime.includes(refusal.opk!), `${refusal.sent}: one-time prekey ${refusal.opk} is still held`);
      }
      assert.deepEqual(await snapshot(bobStore), before, 'nothing else stored, nothing deleted');
      assert.deepEqual(acks(bobName).flatMap((r) => (r.body as { ids: string[] }).ids), fetched.map((m) => m.id), 'acknowledged once recorded');
      assert.deepEqual(await bob.syncMailbox(), { accepted: 0, problems: [] }, 'gone from the mailbox');
    });

    test('security-v2 item 12: a captured initial message (with and without a one-time prekey) and a session message, re-sent through the real server under new client ids, are refused as replays', async () => {
      const aliceName = nameOf('alice');
      const aliceStore = new MemoryKeyStore();
      const alice = await server.enrolled(aliceName, aliceStore);
      const bobName = nameOf('bob');
      const bobStore = new MemoryKeyStore();
      const bob = await server.enrolled(bobName, bobStore);
      const erinName = nameOf('erin');
      const erinStore = new MemoryKeyStore();
      const erin = await server.enrolled(erinName, erinStore, { oneTimePreKeyTarget: 0, oneTimePreKeyLow: 0 }); // no one-time prekeys

      await alice.startSession(bobName, 'once');
      assert.equal((await bob.checkInbox())!.text, 'once');
      await alice.send(bobName, 'message 1'); // message 0 of the chain was the initial message's
      assert.deepEqual((await bob.read(aliceName)).messages, ['message 1']);
      assert.equal((await erin.preKeyStatus()).one_time_prekeys, 0);
      assert.equal((await alice.startSession(erinName, 'no one-time prekey')).oneTimePreKeyId, null);
      assert.equal((await erin.checkInbox())!.text, 'no one-time prekey');

      // What went over the wire, captured; then sent again as alice (her key, her certificate), each under a new client id.
      const captured = server.link(aliceName).requests.filter((r) => r.operation === 'message.send').map((r) => r.body as { to: string; id: string; type: string; envelope: string });
      assert.deepEqual(captured.map((c) => c.type), ['x3dh.initial', 'session', 'x3dh.initial']);
      const identity = (await aliceStore.load()).identity!;
      await alice.close();
      const replayer = await server.raw(aliceName, identity);
      for (const c of captured) result(await replayer.request('message.send', { ...c, id: messageId() }));

      const bobBefore = await snapshot(bobStore);
      const bobRead = await bob.syncMailbox();
      assert.equal(bobRead.accepted, 0);
      assert.equal(bobRead.problems.length, 2);
      assert.match(bobRead.problems[0]!.error.message, /one-time prekey \d+, which this device does not hold/);
      assert.match(bobRead.problems[1]!.error.message, /message number 1 was accepted before \(a replay\)/);
      assert.deepEqual(await snapshot(bobStore), bobBefore, 'the replays changed nothing (the session stays)');

      const erinBefore = await snapshot(erinStore);
      const erinRead = await erin.syncMailbox();
      assert.equal(erinRead.accepted, 0);
      assert.equal(erinRead.problems.length, 1);
      assert.match(erinRead.problems[0]!.error.message, /replay of a handshake accepted before/);
      assert.deepEqual(await snapshot(erinStore), erinBefore);
    });

    for (const change of ['operator set-identity', 'identity.rotate'] as const) test(`security-v2 item 13: both sides show the same safety number through the real directory; after the key changes (${change}), another number and a loud warning on a device trusting on first use, and a certified rotation taken without a person by a provisioned one`, async () => {
      const aliceName = nameOf('alice');
      let alice = await server.enrolled(aliceName);
      const bobName = nameOf('bob');
      const bobStore = new MemoryKeyStore();
      // Bob has no operator key and trusts on first use: a changed key is the user's decision.
      const bob = await server.enrolled(bobName, bobStore, { provisioning: { ...server.provisioning, operatorKey: null, trustOnFirstUse: true } });
      // Carol is provisioned with the operator key: the operator's certificate decides.
      const carolName = nameOf('carol');
      const carol = await server.enrolled(carolName);
      await carol.startSession(aliceName, 'before the change');
      await alice.startSession(bobName, 'hi');
      await bob.checkInbox();
      const seenByAlice = await alice.safetyNumber(bobName);
      const seenByBob = await bob.safetyNumber(aliceName);
      assert.match(seenByAlice.safetyNumber, /^\d{60}$/);
      assert.equal(seenByAlice.safetyNumber, seenByBob.safetyNumber);
      assert.deepEqual([seenByBob.pinned, seenByBob.changed], [true, false]);

      if (change === 'operator set-identity') {
        // The operator gives the name a new key (a replaced device); the new device starts on a fresh key store.
        const replacement = generateKeyPair();
        await server.operator(['device', 'set-identity', aliceName, '--', b64(replacement.publicKey)]);
        await alice.close();
        const store = new MemoryKeyStore();
        await store.save({ ...emptyDeviceState(), username: aliceName, identity: replacement });
        alice = await server.open(aliceName, store);
        await alice.publishBundle();
        const uploads = server.link(aliceName).requests.filter((r) => r.operation === 'prekeys.upload');
        assert.deepEqual(uploads.map((u) => u.response?.ok), [true], 'published above max_signed_prekey_id at once, nothing refused');
      } else {
        await alice.rotateIdentity(); // signed by the old key
      }

      const changed = await bob.safetyNumber(aliceName);
      assert.equal(changed.changed, true);
      assert.equal(changed.safetyNumber, seenByBob.safetyNumber, 'the pinned number stays');
      assert.notEqual(changed.directorySafetyNumber, seenByBob.safetyNumber);
      assert.equal(changed.directorySafetyNumber, (await alice.safetyNumber(bobName)).safetyNumber, 'the new number is the one the new key shows');
      await rejects(bob.startSession(aliceName, 'x'), 'IDENTITY_CHANGED',
        new RegExp(`WARNING: ${aliceName}'s identity key has CHANGED.*safety-number ${aliceName}.*trust ${aliceName}`));

      await alice.startSession(bobName, 'from the new key');
      const pinned = await snapshot(bobStore);
      await rejects(bob.checkInbox(), 'IDENTITY_CHANGED', /WARNING: .* Refused/);
      assert.deepEqual(await snapshot(bobStore), pinned);
      await bob.trust(aliceName, (await bob.safetyNumber(aliceName)).directorySafetyNumber!);
      assert.equal((await bob.checkInbox())!.text, 'from the new key', 'kept in the mailbox until the user decided');

      assert.equal((await carol.startSession(aliceName, 'after the change')).certifiedRotation, true);
      assert.deepEqual(carol.localStatus.certified.find((c) => c.peer === aliceName)?.epoch, 2);
    });

    test('security-v2 item 15 (client side): the acknowledgement follows the save; a message fetched again before its acknowledgement is dropped by its mailbox id', async () => {
      const events: string[] = [];
      const bobStore = new RecordingKeyStore(events);
      const aliceName = nameOf('alice');
      const alice = await server.enrolled(aliceName);
      const bobName = nameOf('bob');
      const bob = await server.enrolled(bobName, bobStore);
      const link = server.link(bobName);
      link.onRequest = (operation) => events.push(operation);

      await alice.startSession(bobName, 'hello');
      bobStore.failing = true;
      await assert.rejects(bob.syncMailbox(), /disk full/);
      assert.ok(!events.includes('mailbox.ack'), 'no acknowledgement without a save');
      assert.equal(lastFetched(bobName).length, 1);
      bobStore.failing = false;

      events.length = 0;
      assert.equal((await bob.syncMailbox()).accepted, 1);
      assert.deepEqual(events.filter((e) => e === 'mailbox.ack' || e.startsWith('save unread=1')), ['save unread=1', 'mailbox.ack']);

      // The acknowledgement is lost: the server delivers the message again, and it is dropped by id (and acknowledged again).
      await alice.send(bobName, 'only once');
      link.failing.add('mailbox.ack');
      await assert.rejects(bob.syncMailbox(), /mailbox\.ack/);
      link.failing.delete('mailbox.ack');
      const [saved] = lastFetched(bobName);
      const again = await bob.syncMailbox();
      assert.deepEqual(lastFetched(bobName).map((m) => m.id), [saved!.id], 'the server delivered it again');
      assert.deepEqual(again, { accepted: 0, problems: [] }, 'dropped, not accepted twice nor refused as a replay');
      assert.deepEqual(link.requests.at(-1)!.body, { ids: [saved!.id] });
      assert.equal(link.requests.at(-1)!.response?.ok, true);
      await bob.syncMailbox();
      assert.deepEqual(lastFetched(bobName), [], 'acknowledged: gone from the mailbox');
      assert.deepEqual((await bob.read(aliceName)).messages, ['hello', 'only once'], 'each shown once');
    });
  });
}
