import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  aeadEncrypt, decodeBase64url, encodeBase64url, generateKeyPair, type KeyPair, randomAeadNonce, utf8, wireV2, x3dhInitiate,
} from '@x3dh-iot/protocol';
import { type DeviceState, MemoryKeyStore, SecureDevice, type V2Link } from '../src/index.js';
import { FakeV2Server } from './support/fake_v2_server.js';
import { enrolled, FAST, keysAndSessions, refusalReasons, rejects } from './support/v2_devices.js';
import { insert, legacyInitial } from './support/legacy_peer.js';
import { RecordingKeyStore } from './support/recording_key_store.js';

/**
 * The client side of docs/security-v2 guarantees against the in-process fake server, which can do
 * what the real one never does: hand out a bundle with a bad signed-prekey signature, lie about an
 * identity key after it was pinned, put arbitrary messages in a mailbox, stop its pushes. Every test
 * name says "fake server". The same items against the real key server, on PostgreSQL + Mosquitto
 * and on the embedded defaults, are in security_v2_real_server.test.ts.
 */

const DAY_MS = 24 * 3600 * 1000;

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

async function identityOf(store: MemoryKeyStore): Promise<KeyPair> {
  return (await store.load()).identity!;
}

/** What a test compares to prove that a refused message changed nothing but the record of its refusal. */
const snapshot = (store: MemoryKeyStore): Promise<DeviceState> => keysAndSessions(store);

/**
 * Alice and Bob on one fake server. `trustOnFirstUse`: Bob has no operator key and was set to
 * trust keys on first use, so a changed key waits for the user's decision (with an operator key, a
 * key change without a newer certificate is refused outright: identity_certificates.test.ts).
 */
async function pair(server: FakeV2Server, options: { trustOnFirstUse?: boolean } = {}): Promise<{ alice: SecureDevice; bob: SecureDevice; bobStore: MemoryKeyStore }> {
  const alice = await enrolled(server, 'alice');
  const bobStore = new MemoryKeyStore();
  const bob = await enrolled(server, 'bob', bobStore, options.trustOnFirstUse ? { provisioning: tofu(server) } : {});
  return { alice, bob, bobStore };
}

const tofu = (server: FakeV2Server) => ({ deploymentId: server.deploymentId, operatorKey: null, trustOnFirstUse: true });

test('security-v2 item 6 (fake server): a prekeys_low push makes the client refill its one-time prekeys, and so does a low count in prekeys.status', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bob = await enrolled(server, 'bob', new MemoryKeyStore(), { oneTimePreKeyTarget: 20, oneTimePreKeyLow: 10 });
  bob.listen();
  const stock = () => server.devices.get('bob')!.oneTimePreKeys;
  assert.equal(stock().length, 20);
  stock().splice(0, 10);
  await alice.startSession('bob', 'drains one more'); // 9 left: the server pushes prekeys_low
  await until(() => stock().length === 20, 'the refill after prekeys_low');
  const ids = stock().map((k) => k.id);
  assert.ok(ids.slice(9).every((id) => id >= 20), `refilled ids continue above every earlier id: ${ids.join(',')}`);

  server.pushes = false;
  stock().splice(0, 15);
  await bob.checkInbox(); // reads prekeys.status, sees 5
  assert.equal(stock().length, 20);
  await bob.close();
});

test('security-v2 item 7 (fake server): the signed prekey rotates every 7 days; replaced keys open delayed initial messages for 30 days, then are deleted', async () => {
  const server = new FakeV2Server();
  let now = Date.now();
  const clock = { now: () => new Date(now) };
  const alice = await enrolled(server, 'alice');
  const carol = await enrolled(server, 'carol');
  const bobStore = new MemoryKeyStore();
  const bob = await enrolled(server, 'bob', bobStore, clock);
  assert.equal(server.devices.get('bob')!.signedPreKey!.id, 1);

  await alice.startSession('bob', 'sent to signed prekey 1, read late');
  now += 3 * DAY_MS;
  assert.deepEqual(await bob.maintain(), { rotated: false, uploadedOneTimePreKeys: 0 });
  now += 4 * DAY_MS;
  assert.equal((await bob.maintain()).rotated, true);
  assert.equal(server.devices.get('bob')!.signedPreKey!.id, 2);
  assert.deepEqual(bob.preKeyIds.signed, [1, 2], 'the replaced key is kept');
  assert.deepEqual(await bob.checkInbox(), { peer: 'alice', text: 'sent to signed prekey 1, read late', identityChanged: false });

  await carol.startSession('bob', 'sent to signed prekey 2, read too late');
  now += 7 * DAY_MS;
  assert.equal((await bob.maintain()).rotated, true); // 3 replaces 2 on day 14
  now += 31 * DAY_MS;
  await bob.maintain(); // day 45: 2 was replaced 31 days ago
  assert.ok(!bob.preKeyIds.signed.includes(2), `signed prekey 2 deleted after its grace period: ${bob.preKeyIds.signed.join(',')}`);
  assert.ok(!bob.preKeyIds.signed.includes(1));
  const state = await bobStore.load();
  assert.ok(state.v2.acceptedHandshakes.every((h) => h.signedPreKeyId !== 1), 'replay records go with their signed prekey');
  await rejects(bob.checkInbox(), 'SECURITY', /names signed prekey 2, which this device does not hold/);
});

test('security-v2 item 9 (malicious server, fake): the initiator aborts on a bad signed-prekey signature in the bundle and on an all-zero DH output, sending and saving nothing', async () => {
  const server = new FakeV2Server();
  const aliceStore = new MemoryKeyStore();
  const alice = await enrolled(server, 'alice', aliceStore);
  const bobStore = new MemoryKeyStore();
  await enrolled(server, 'bob', bobStore);
  const before = await snapshot(aliceStore);
  const sends = () => server.requests.filter((r) => r.operation === 'message.send').length;

  server.tamperBundle = (bundle) => {
    const spk = bundle.signed_prekey as { signature: string };
    const signature = decodeBase64url(spk.signature);
    signature[10]! ^= 1;
    return { ...bundle, signed_prekey: { ...spk, signature: encodeBase64url(signature) } };
  };
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /cannot start a session with bob: .*signature/i);

  const zero = encodeBase64url(new Uint8Array(32));
  server.tamperBundle = (bundle) => ({ ...bundle, one_time_prekey: { id: 7, key: zero } });
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /cannot start a session with bob/);

  const bobIdentity = await identityOf(bobStore);
  server.tamperBundle = (bundle) => ({
    ...bundle, signed_prekey: { id: 1, key: zero, signature: encodeBase64url(wireV2.signSignedPreKey(bobIdentity.privateKey, 'bob', 1, new Uint8Array(32))) },
  });
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /cannot start a session with bob/);

  assert.equal(sends(), 0);
  const after = await snapshot(aliceStore);
  assert.deepEqual(after.v2, before.v2, 'no session, pin or outgoing message saved');
});

test('attack (malicious server, fake): a bundle that relabels a signed prekey (another id, or another device\'s signed prekey and key under this name) is refused by the initiator, which sends and saves nothing', async () => {
  const server = new FakeV2Server();
  const aliceStore = new MemoryKeyStore();
  const alice = await enrolled(server, 'alice', aliceStore);
  await enrolled(server, 'bob');
  await enrolled(server, 'carol');
  const before = await snapshot(aliceStore);
  const sends = () => server.requests.filter((r) => r.operation === 'message.send').length;

  server.tamperBundle = (bundle) => ({ ...bundle, signed_prekey: { ...(bundle.signed_prekey as object), id: 5 } });
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /cannot start a session with bob: .*signature/i);

  const carol = server.devices.get('carol')!;
  server.tamperBundle = (bundle) => ({
    ...bundle, identity_key: encodeBase64url(carol.identityKey),
    signed_prekey: { id: carol.signedPreKey!.id, key: carol.signedPreKey!.key, signature: carol.signedPreKey!.signature },
  });
  // Carol's identity key under bob's name fails bob's identity certificate before the signature is looked at.
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /identity certificate for bob does not verify/);

  server.tamperBundle = null;
  assert.equal(sends(), 0);
  assert.deepEqual((await snapshot(aliceStore)).v2, before.v2, 'no session, pin or outgoing message saved');
  await alice.startSession('bob', 'the genuine bundle still works');
  assert.equal(sends(), 1);
});

test('security-v2 item 10 (fake server): the initial message names the signed-prekey and one-time-prekey ids, and the responder uses exactly those', async () => {
  const server = new FakeV2Server();
  const { alice, bob } = await pair(server);
  const carol = await enrolled(server, 'carol');
  await alice.startSession('bob', 'first');
  await bob.publishBundle(0); // signed prekey 2 becomes current; 1 stays for the message above
  await carol.startSession('bob', 'second');
  const named = server.mailbox('bob').map((m) => {
    const decoded = wireV2.decodeAnyInitialEnvelope(m.envelope);
    assert.ok(decoded.ok && decoded.value.form === 'ratchet');
    return { spk: decoded.value.envelope.signedPreKeyId, opk: decoded.value.envelope.oneTimePreKeyId };
  });
  assert.deepEqual(named, [{ spk: 1, opk: 0 }, { spk: 2, opk: 1 }]);
  assert.deepEqual(JSON.parse(Buffer.from(server.mailbox('bob')[0]!.envelope).toString()).spk_id, 1, 'spk_id is on the wire');

  const { accepted } = await bob.syncMailbox();
  assert.equal(accepted, 2);
  assert.deepEqual(bob.preKeyIds.oneTime.slice(0, 3), [2, 3, 4], 'one-time prekeys 0 and 1, and no other, were used and deleted');
});

test('security-v2 item 11 (fake server, incl. a directory that changes the key after pinning): the responder builds AD itself, refuses a sender key other than the pinned or directory one; a failure stores nothing but the record of the refusal, deletes nothing, and is acknowledged (a changed key is not: the user decides)', async () => {
  const server = new FakeV2Server();
  const { alice, bob, bobStore } = await pair(server, { trustOnFirstUse: true });
  const acks = () => server.requests.filter((r) => r.operation === 'mailbox.ack').length;

  // Decryption failure: one flipped ciphertext byte.
  await alice.startSession('bob', 'hello bob');
  const original = server.mailbox('bob')[0]!;
  const json = JSON.parse(Buffer.from(original.envelope).toString());
  const ciphertext = decodeBase64url(json.ciphertext);
  ciphertext[0]! ^= 1;
  original.envelope = utf8.encode(JSON.stringify({ ...json, ciphertext: encodeBase64url(ciphertext) }));
  const before = await snapshot(bobStore);
  await rejects(bob.checkInbox(), 'SECURITY', /initial message \d+ from alice refused: it cannot be decrypted/);
  assert.deepEqual(await snapshot(bobStore), before, 'nothing stored, nothing deleted (one-time prekey 0 is still held)');
  assert.ok(before.oneTimePreKeys.has(0));
  assert.match((await refusalReasons(bobStore)).at(-1)!, /from alice refused: it cannot be decrypted/, 'the refusal is recorded');
  assert.equal(acks(), 1, 'then acknowledged');
  assert.equal(server.mailbox('bob').length, 0, 'so that refused messages cannot fill the mailbox');

  // AD from the responder's own identity key: a message sealed under AD naming another responder fails.
  const target = server.devices.get('bob')!;
  const opk = target.oneTimePreKeys.shift()!;
  const initiator = generateKeyPair();
  const x3dh = x3dhInitiate(initiator, {
    identityKey: target.identityKey, signedPreKey: decodeBase64url(target.signedPreKey!.key),
    signedPreKeySignature: decodeBase64url(target.signedPreKey!.signature), oneTimePreKey: { id: opk.id, publicKey: decodeBase64url(opk.key) },
  }, {
    info: wireV2.X3DH_V2_INFO,
    signedPreKeyMessage: wireV2.signedPreKeySignatureInput('bob', target.signedPreKey!.id, decodeBase64url(target.signedPreKey!.key)),
  });
  const wrongAd = wireV2.initialAssociatedData(initiator.publicKey, generateKeyPair().publicKey, target.signedPreKey!.id, opk.id, x3dh.ephemeralPublicKey);
  const nonce = randomAeadNonce();
  server.devices.set('mallory', { ...target, identityKey: initiator.publicKey });
  insert(server, 'bob', 'mallory', 'x3dh.initial', wireV2.encodeInitialEnvelope({
    identityKey: initiator.publicKey, ephemeralKey: x3dh.ephemeralPublicKey, signedPreKeyId: target.signedPreKey!.id,
    oneTimePreKeyId: opk.id, nonce, ciphertext: aeadEncrypt(x3dh.sharedKey, nonce, utf8.encode('sealed for someone else'), wrongAd),
  }));
  await rejects(bob.checkInbox(), 'SECURITY', /from mallory refused: it cannot be decrypted/);
  assert.ok(bob.preKeyIds.oneTime.includes(opk.id));
  server.mailboxes.set('bob', []);

  // First contact: the message's identity key is not the one the directory holds for its sender.
  const impostor = generateKeyPair();
  insert(server, 'bob', 'alice', 'x3dh.initial', legacyInitial(server, 'bob', impostor, 'I am alice').envelope);
  await rejects(bob.checkInbox(), 'SECURITY', /not the one the directory holds for alice/);
  server.mailboxes.set('bob', []);

  // After pinning: a key other than the pinned one is refused loudly, even if the directory now agrees.
  await alice.startSession('bob', 'the real alice');
  assert.equal((await bob.checkInbox())!.text, 'the real alice');
  server.devices.get('alice')!.identityKey = impostor.publicKey;
  insert(server, 'bob', 'alice', 'x3dh.initial', legacyInitial(server, 'bob', impostor, 'new key, same name').envelope);
  const pinned = await snapshot(bobStore);
  await rejects(bob.checkInbox(), 'IDENTITY_CHANGED', /WARNING: alice's identity key has CHANGED .* Refused/);
  assert.deepEqual(await snapshot(bobStore), pinned);
  assert.equal(server.mailbox('bob').length, 1, 'kept in the mailbox until the user decides');
});

test('attack (fake server): a forged initial message under a pinned peer\'s name is refused for good and raises no lasting alarm; a key the directory now holds still does', async () => {
  const server = new FakeV2Server();
  const { alice, bob, bobStore } = await pair(server, { trustOnFirstUse: true });
  await alice.startSession('bob', 'the real alice');
  assert.equal((await bob.checkInbox())!.text, 'the real alice');
  const forger = generateKeyPair();
  insert(server, 'bob', 'alice', 'x3dh.initial', legacyInitial(server, 'bob', forger, 'I am alice too').envelope);
  const before = await snapshot(bobStore);
  const { problems } = await bob.inbox();
  assert.equal(problems.length, 1);
  assert.equal(problems[0]!.error.kind, 'SECURITY');
  assert.match(problems[0]!.error.message, /neither the one pinned for alice nor the directory's: a forged message/);
  assert.deepEqual(await snapshot(bobStore), before, 'the pin and the sessions stay');
  assert.equal(server.mailbox('bob').length, 0, 'recorded and acknowledged, not kept as an alarm');
  assert.equal(await bob.checkInbox(), null, 'the next inbox is quiet');
  await alice.send('bob', 'still alice');
  assert.deepEqual((await bob.read('alice')).messages, ['still alice']);

  // A genuine change (the directory holds the new key): the loud alarm, kept until the user decides.
  server.devices.get('alice')!.identityKey = forger.publicKey;
  insert(server, 'bob', 'alice', 'x3dh.initial', legacyInitial(server, 'bob', forger, 'new key, same name').envelope);
  await rejects(bob.checkInbox(), 'IDENTITY_CHANGED', /WARNING: alice's identity key has CHANGED/);
  assert.equal(server.mailbox('bob').length, 1);
});

test('security-v2 item 12 (fake server): a replayed initial message is refused, with or without a one-time prekey; a replayed session message too', async () => {
  const server = new FakeV2Server();
  const { alice, bob, bobStore } = await pair(server);
  await alice.startSession('bob', 'once');
  const withOpk = { ...server.mailbox('bob')[0]! };
  assert.equal((await bob.checkInbox())!.text, 'once');
  const accepted = await snapshot(bobStore);
  server.replay('bob', withOpk);
  await rejects(bob.checkInbox(), 'SECURITY', /one-time prekey 0, which this device does not hold/);
  assert.deepEqual(await snapshot(bobStore), accepted, 'the replay changed nothing (the session stays)');
  server.mailboxes.set('bob', []);

  server.devices.get('bob')!.oneTimePreKeys = [];
  await alice.startSession('bob', 'no one-time prekey');
  const withoutOpk = { ...server.mailbox('bob')[0]! };
  assert.equal((await bob.checkInbox())!.text, 'no one-time prekey');
  server.replay('bob', withoutOpk);
  await rejects(bob.checkInbox(), 'SECURITY', /replay of a handshake accepted before/);
  server.mailboxes.set('bob', []);

  await alice.send('bob', 'message 1'); // message 0 of the chain was the initial message's
  const session = { ...server.mailbox('bob')[0]! };
  assert.deepEqual((await bob.read('alice')).messages, ['message 1']);
  server.replay('bob', session);
  const read = await bob.read('alice');
  assert.deepEqual(read.messages, []);
  assert.equal(read.undecryptable, 1);
  assert.match(read.problems[0]!.error.message, /message number 1 was accepted before/);
});

test('security-v2 item 13 (fake server): both sides show the same safety number; a changed key gives another number and a loud warning', async () => {
  const server = new FakeV2Server();
  const { alice, bob } = await pair(server, { trustOnFirstUse: true });
  await alice.startSession('bob', 'hi');
  await bob.checkInbox();
  const seenByAlice = await alice.safetyNumber('bob');
  const seenByBob = await bob.safetyNumber('alice');
  assert.match(seenByAlice.safetyNumber, /^\d{60}$/);
  assert.equal(seenByAlice.safetyNumber, seenByBob.safetyNumber);
  assert.deepEqual([seenByBob.pinned, seenByBob.changed], [true, false]);

  server.devices.get('alice')!.identityKey = generateKeyPair().publicKey; // e.g. an operator set another key
  const changed = await bob.safetyNumber('alice');
  assert.equal(changed.changed, true);
  assert.equal(changed.safetyNumber, seenByBob.safetyNumber, 'the pinned number stays');
  assert.notEqual(changed.directorySafetyNumber, seenByBob.safetyNumber);
  await rejects(bob.startSession('alice', 'x'), 'IDENTITY_CHANGED', /WARNING: alice's identity key has CHANGED.*safety-number alice.*trust alice <the safety number you compared>/);

  // Only the number the user compared pins: the number of the old key (or any other) pins nothing.
  await rejects(bob.trust('alice', changed.safetyNumber), 'SECURITY', /not the one of the key the directory holds for alice: nothing was pinned/);
  assert.equal((await bob.safetyNumber('alice')).changed, true);
  assert.equal((await bob.safetyNumber('alice')).verified, false, 'pinned on first use');
  const spaced = changed.directorySafetyNumber!.replace(/(\d{5})/g, '$1 ');
  const trusted = await bob.trust('alice', spaced);
  assert.equal(trusted.safetyNumber, changed.directorySafetyNumber);
  assert.equal((await bob.safetyNumber('alice')).changed, false);
  assert.equal((await bob.safetyNumber('alice')).verified, true);
  // Accepted: what stops the handshake now is only that the stale signed prekey was signed by the old key.
  await rejects(bob.startSession('alice', 'x'), 'SECURITY', /signature/);
});

test('security-v2 item 15 (client side, fake server): a redelivered message is dropped by its mailbox id, and the acknowledgement follows the save', async () => {
  const server = new FakeV2Server();
  const events: string[] = [];
  const bobStore = new RecordingKeyStore(events);
  const alice = await enrolled(server, 'alice');
  const bob = await SecureDevice.open(bobStore, (name): V2Link => {
    const link = server.link(name);
    return { ...link, request: (request) => { events.push(wireV2.parseRequestTopic(request.topic)!.operation); return link.request(request); } };
  }, { client: FAST, provisioning: server.provisioning });
  await bob.setUsername('bob');
  await bob.registerIdentity();
  await bob.publishBundle();

  await alice.startSession('bob', 'hello');
  bobStore.failing = true;
  await assert.rejects(bob.syncMailbox(), /disk full/);
  assert.ok(!events.includes('mailbox.ack'), 'no acknowledgement without a save');
  assert.equal(server.mailbox('bob').length, 1);
  bobStore.failing = false;

  events.length = 0;
  await bob.syncMailbox();
  assert.deepEqual(events.filter((e) => e === 'mailbox.ack' || e.startsWith('save unread=1')), ['save unread=1', 'mailbox.ack']);

  // The acknowledgement is lost: the message comes again and is dropped by id (and acknowledged again).
  await alice.send('bob', 'only once');
  server.failOnce.set('mailbox.ack', 'not_found');
  await assert.rejects(bob.syncMailbox());
  assert.equal(server.mailbox('bob').length, 1);
  const copy = { ...server.mailbox('bob')[0]! };
  server.mailbox('bob').push(copy); // and a second copy with the same id in the same batch
  await bob.syncMailbox();
  assert.equal(server.mailbox('bob').length, 0);
  assert.deepEqual((await bob.read('alice')).messages, ['hello', 'only once'], 'each shown once');
  assert.deepEqual(await bob.takeUnread(), []);
});

test('attack (fake server): junk initial messages from one sender are recorded and acknowledged, so they cannot fill the mailbox; a message that may still be accepted later waits', async () => {
  const server = new FakeV2Server();
  const { bob, bobStore } = await pair(server);
  for (let i = 0; i < 5; i += 1) insert(server, 'bob', 'alice', 'x3dh.initial', utf8.encode(`junk ${i}`));
  // A session message before its handshake (NOT_READY): the handshake may still come.
  const early = insert(server, 'bob', 'alice', 'session', utf8.encode('{}'));
  const { accepted, problems } = await bob.syncMailbox();
  assert.equal(accepted, 0);
  assert.deepEqual(problems.map((p) => p.error.kind), ['SECURITY', 'SECURITY', 'SECURITY', 'SECURITY', 'SECURITY', 'NOT_READY']);
  const reasons = await refusalReasons(bobStore);
  assert.equal(reasons.length, 5);
  for (const reason of reasons) assert.match(reason, /from alice refused: malformed envelope/);
  assert.deepEqual(bob.localStatus.refused.map((r) => r.peer), ['alice', 'alice', 'alice', 'alice', 'alice']);
  assert.deepEqual(server.mailbox('bob').map((m) => m.id), [early.id], 'only the message that may be accepted later waits');
});
