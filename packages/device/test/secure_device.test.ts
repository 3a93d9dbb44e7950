import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeBase64url, generateKeyPair } from '@x3dh-iot/protocol';
import { emptyDeviceState, FileKeyStore, MailboxWatcher, MemoryKeyStore, SecureDevice, V2RequestError } from '../src/index.js';
import { FakeV2Server } from './support/fake_v2_server.js';
import { enrolled, FAST, openV2, rejects } from './support/v2_devices.js';
import { tempDir } from './support/temp_dir.js';

test('enrol, publish, handshake and chat both ways over signed v2 requests', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bob = await enrolled(server, 'bob');
  assert.deepEqual((await alice.listUsers()).sort(), ['alice', 'bob']);
  assert.equal(server.devices.get('bob')!.oneTimePreKeys.length, 50, 'publish fills the stock to the target');

  const started = await alice.startSession('bob', 'hello bob');
  assert.equal(started.oneTimePreKeyId, 0);
  assert.deepEqual(await bob.checkInbox(), { peer: 'alice', text: 'hello bob', identityChanged: false });
  assert.equal(await bob.checkInbox(), null);
  assert.equal(server.mailbox('bob').length, 0, 'accepted messages are acknowledged');

  await bob.send('alice', 'hi alice, über 🙂');
  await alice.send('bob', 'one');
  await alice.send('bob', 'two');
  assert.deepEqual(await alice.read('bob'), { messages: ['hi alice, über 🙂'], undecryptable: 0, problems: [] });
  assert.deepEqual((await bob.read('alice')).messages, ['one', 'two']);
  assert.deepEqual((await bob.read('alice')).messages, []);
  for (const r of server.requests) assert.ok(r.requestId.length > 0 && Number.isSafeInteger(r.timestamp));
});

test('every request carries a fresh 16-byte id, the time and a signature the server verifies', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  await alice.listUsers();
  const ids = server.requests.map((r) => r.requestId);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.equal(Buffer.from(id, 'base64url').length, 16);
  // The fake refuses a bad signature: a device whose key the server does not know is refused.
  server.devices.get('alice')!.identityKey = new Uint8Array(32).fill(9);
  await rejects(alice.listUsers(), 'SERVER_REFUSED', /bad_signature/);
});

test('a lost response is answered by resending the same request (same id, time and signature); it runs once', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const before = server.executed.length;
  server.loseResponses = 2;
  assert.deepEqual(await alice.listUsers(), ['alice']);
  const attempts = server.requests.slice(-3);
  assert.equal(attempts.length, 3);
  assert.ok(attempts.every((r) => r.requestId === attempts[0]!.requestId && r.timestamp === attempts[0]!.timestamp));
  assert.equal(server.executed.length - before, 1, 'executed once, answered three times');

  server.loseResponses = 3;
  await rejects(alice.listUsers(), 'UNREACHABLE', /no answer from the server to directory\.list .*3 attempts/);
});

test('unavailable and internal are retried with the same request id; other codes become typed errors', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  server.failNext.push('unavailable', 'internal');
  assert.deepEqual(await alice.listUsers(), ['alice']);
  const attempts = server.requests.slice(-3);
  assert.ok(attempts.every((r) => r.requestId === attempts[0]!.requestId));

  server.failNext.push('unavailable', 'unavailable', 'unavailable');
  await assert.rejects(alice.listUsers(), (error: unknown) => error instanceof V2RequestError && error.code === 'unavailable');
  await assert.rejects(alice.startSession('nobody', 'x'), (error: unknown) =>
    error instanceof V2RequestError && error.code === 'unknown_device' && error.kind === 'SERVER_REFUSED');
});

test('enrolment: a token when the server wants one, the same key again is harmless, another key gets name_taken', async () => {
  const server = new FakeV2Server();
  server.openEnrolment = false;
  server.tokens.add('t-123');
  const alice = await openV2(server, 'alice');
  await assert.rejects(alice.registerIdentity(), (error: unknown) => error instanceof V2RequestError && error.code === 'enrolment_required'
    && /enrolment token/.test(error.message));
  assert.equal(alice.identityKey, null, 'a refused enrolment keeps no key made for it');
  assert.deepEqual(await alice.registerIdentity({ token: 't-123' }), { username: 'alice', renamedFrom: null, newIdentity: true });
  assert.deepEqual(await alice.registerIdentity(), { username: 'alice', renamedFrom: null, newIdentity: false });
  const impostor = await openV2(server, 'alice');
  server.openEnrolment = true;
  await assert.rejects(impostor.registerIdentity(), (error: unknown) => error instanceof V2RequestError && error.code === 'name_taken');
  await rejects(openV2(server, 'not/a/name'), 'INVALID_INPUT', /A-Z a-z 0-9/);
});

test('one-time prekey ids only grow, uploads append, and the signed prekey has an id and a creation time', async () => {
  const server = new FakeV2Server();
  const bob = await enrolled(server, 'bob');
  const first = server.devices.get('bob')!;
  assert.deepEqual(first.oneTimePreKeys.map((k) => k.id), Array.from({ length: 50 }, (_, i) => i));
  assert.equal(first.signedPreKey!.id, 1);
  const more = await bob.publishBundle(5);
  assert.deepEqual(more.oneTimePreKeyIds, [50, 51, 52, 53, 54]);
  assert.equal(more.signedPreKeyId, 2);
  assert.equal(server.devices.get('bob')!.oneTimePreKeys.length, 55, 'appended, not replaced');
  const status = bob.localStatus;
  assert.equal(status.signedPreKey!.id, 2);
  assert.ok(Date.parse(status.signedPreKey!.createdAt) > 0);
  assert.equal(status.oneTimePreKeysHeld, 55);
});

test('the state is saved in the file key store and old stores without v2 data still load', async (t) => {
  const dir = tempDir(t);
  const server = new FakeV2Server();
  const path = join(dir, 'bob.json');
  const bob = await enrolled(server, 'bob', await FileKeyStore.open(path));
  const alice = await enrolled(server, 'alice');
  await alice.startSession('bob', 'persisted');
  await bob.syncMailbox();
  await bob.close();
  const reopened = await SecureDevice.open(await FileKeyStore.open(path), (n) => server.link(n), { client: FAST, provisioning: server.provisioning });
  assert.deepEqual(reopened.peers, ['alice']);
  assert.deepEqual(await reopened.checkInbox(), { peer: 'alice', text: 'persisted', identityChanged: false });
  await reopened.close();

  const oldPath = join(dir, 'old.json');
  const store = await FileKeyStore.open(oldPath);
  await store.save({ ...emptyDeviceState(), username: 'legacy' });
  await store.close();
  const document = JSON.parse(await readFile(oldPath, 'utf8'));
  delete document.state.v2;
  await writeFile(oldPath, JSON.stringify(document));
  const legacy = await FileKeyStore.open(oldPath);
  const state = await legacy.load();
  assert.equal(state.username, 'legacy');
  assert.equal(state.v2.sessions.size, 0);
  await legacy.close();
});

test('a send whose answer never comes is kept and resent with the same client message id: queued once', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bob = await enrolled(server, 'bob');
  await alice.startSession('bob', 'hello');
  await bob.checkInbox();
  server.loseResponses = 3;
  await rejects(alice.send('bob', 'kept'), 'UNREACHABLE', /saved and will be sent again/);
  assert.equal(alice.localStatus.outbox, 1);
  await alice.send('bob', 'after');
  assert.equal(alice.localStatus.outbox, 0);
  const sends = server.requests.filter((r) => r.operation === 'message.send' && r.body.type === 'session');
  assert.equal(new Set(sends.map((r) => r.body.id)).size, 2, 'two client ids for two messages');
  assert.deepEqual((await bob.read('alice')).messages, ['kept', 'after']);
});

test('pushes: a pushed message is accepted without polling', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bob = await enrolled(server, 'bob');
  bob.listen();
  const arrived = new Promise((resolve) => bob.on('session', resolve));
  await alice.startSession('bob', 'pushed');
  for (let i = 0; i < 200 && bob.localStatus.unread === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(await bob.takeUnread(), [{ kind: 'handshake', peer: 'alice', text: 'pushed' }]);
  assert.deepEqual(await arrived, { peer: 'alice', text: 'pushed', identityChanged: false });
  // The acknowledgement follows the save, so it may still be on its way.
  for (let i = 0; i < 200 && server.mailbox('bob').length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(server.mailbox('bob').length, 0);
});

test('device.delete removes the prekeys; enrolling again with the same key restores the device', async () => {
  const server = new FakeV2Server();
  const bob = await enrolled(server, 'bob');
  await bob.deleteDevice();
  assert.deepEqual(bob.preKeyIds, { signed: [], oneTime: [] });
  assert.ok(server.devices.get('bob')!.deleted);
  await bob.registerIdentity();
  await bob.publishBundle();
  assert.equal(server.devices.get('bob')!.signedPreKey!.id, 2, 'ids continue above the deleted ones');
});

test('a replaced device (new key store, same name) reads the highest signed prekey id from prekeys.status and publishes above it at once', async () => {
  const server = new FakeV2Server();
  const bob = await enrolled(server, 'bob');
  await bob.publishBundle(0);
  await bob.publishBundle(0); // the server has seen signed prekey ids up to 3
  const store = new MemoryKeyStore();
  const replacement = generateKeyPair();
  await store.save({ ...emptyDeviceState(), username: 'bob', identity: replacement });
  Object.assign(server.devices.get('bob')!, { identityKey: replacement.publicKey, signedPreKey: null, oneTimePreKeys: [] });
  const newBob = await openV2(server, null, store);
  const uploadsBefore = server.requests.length;
  const published = await newBob.publishBundle(2);
  assert.equal(published.signedPreKeyId, 4, 'one above max_signed_prekey_id');
  assert.deepEqual(server.requests.slice(uploadsBefore).map((r) => r.operation), ['prekeys.status', 'prekeys.upload'], 'no refused upload first');
  assert.deepEqual(newBob.preKeyIds.signed, [published.signedPreKeyId], 'the key store names the key by the id the server holds');
  assert.equal(server.devices.get('bob')!.signedPreKey!.id, published.signedPreKeyId);
});

test('attack: a signed prekey replaced on the server under the id the device published is published anew by maintain()', async () => {
  const server = new FakeV2Server();
  const bob = await enrolled(server, 'bob');
  const published = await bob.publishBundle(server.lowThreshold + 1);
  // What an unauthenticated v1 bundle upload did to a v2 device: another key and signature under the same id.
  const held = server.devices.get('bob')!.signedPreKey!;
  Object.assign(held, { key: encodeBase64url(generateKeyPair().publicKey), signature: encodeBase64url(new Uint8Array(64).fill(7)) });
  const upkeep = await bob.maintain();
  assert.equal(upkeep.rotated, true);
  const now = server.devices.get('bob')!.signedPreKey!;
  assert.ok(now.id > published.signedPreKeyId);
  assert.deepEqual(bob.preKeyIds.signed.at(-1), now.id, 'the server holds the device\'s own new signed prekey');
  assert.deepEqual(await bob.maintain(), { rotated: false, uploadedOneTimePreKeys: 0 }, 'nothing more once the server holds it');
});

test('identity rotation: signed by the old key with the new key\'s proof; a lost answer is settled with the same new key', async () => {
  const server = new FakeV2Server();
  const store = new MemoryKeyStore();
  const alice = await enrolled(server, 'alice', store);
  const bob = await enrolled(server, 'bob');
  await alice.startSession('bob', 'before');
  await bob.checkInbox();
  const old = alice.identityKey!;
  server.loseResponses = 3; // executed, but no answer ever comes: the device keeps the pending key
  await rejects(alice.rotateIdentity(), 'UNREACHABLE', /identity\.rotate/);
  assert.deepEqual(alice.identityKey, old);
  const pending = (await store.load()).v2.pendingIdentity!;
  assert.deepEqual(server.devices.get('alice')!.identityKey, pending.publicKey, 'the server already holds the new key');

  const rotated = await alice.rotateIdentity(); // the old key is refused now; the pending one is adopted
  assert.deepEqual(alice.identityKey, pending.publicKey);
  assert.equal(rotated.identityKey, encodeBase64url(pending.publicKey));
  assert.ok(rotated.signedPreKeyId > 1 && rotated.oneTimePreKeyIds[0]! >= 50, 'new prekeys above every earlier id');
  assert.deepEqual(alice.peers, [], 'sessions named the old key');
  // Certified at epoch 2 by the operator key: Bob moves to the new key without asking anyone.
  assert.equal((await bob.startSession('alice', 'after')).certifiedRotation, true);
  assert.equal((await alice.checkInbox())!.text, 'after');
  assert.deepEqual(bob.localStatus.certified.find((c) => c.peer === 'alice')?.epoch, 2);
});

test('crossed handshakes (both start a chat before reading) end in one shared session', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bob = await enrolled(server, 'bob');
  await alice.startSession('bob', 'from alice');
  await bob.startSession('alice', 'from bob');
  assert.equal((await alice.checkInbox())!.text, 'from bob');
  assert.equal((await bob.checkInbox())!.text, 'from alice');
  await alice.send('bob', 'after crossing');
  await bob.send('alice', 'and back');
  assert.deepEqual((await bob.read('alice')).messages, ['after crossing']);
  assert.deepEqual((await alice.read('bob')).messages, ['and back']);
  // A later handshake from the peer replaces a session that has received messages: the peer started again.
  await bob.startSession('alice', 'new start');
  assert.equal((await alice.checkInbox())!.text, 'new start');
  await alice.send('bob', 'on the new session');
  assert.deepEqual((await bob.read('alice')).messages, ['on the new session']);
});

test('a saved message the server refuses for good (recipient deleted) is dropped and reported, and does not block the next send', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bob = await enrolled(server, 'bob');
  const carol = await enrolled(server, 'carol');
  await alice.startSession('bob', 'hi bob');
  await alice.startSession('carol', 'hi carol');
  server.loseResponses = 3;
  await rejects(alice.send('carol', 'kept'), 'UNREACHABLE', /saved and will be sent again/);
  await carol.deleteDevice();
  const problems: Error[] = [];
  alice.on('problem', (error) => problems.push(error));
  await alice.send('bob', 'not blocked');
  assert.equal(alice.localStatus.outbox, 0);
  assert.match(problems[0]!.message, /unknown_device/);
  assert.deepEqual((await bob.read('alice')).messages, ['hi bob', 'not blocked']);
});

test('a mailbox watcher shows pushed handshakes and messages as events and reports a refused message once', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bob = await enrolled(server, 'bob');
  const shown: string[] = [];
  bob.on('session', (s) => shown.push(`session ${s.peer}: ${s.text}`));
  bob.on('message', (m) => shown.push(`message ${m.peer}: ${m.text}`));
  const problems: string[] = [];
  const watcher = new MailboxWatcher(bob, 100).start();
  watcher.on('problem', (error) => problems.push(error.message));
  await alice.startSession('bob', 'hello');
  await alice.send('bob', 'pushed');
  server.replay('bob', { id: '1', from: 'alice', type: 'session', envelope: new Uint8Array(40), client_id: new Uint8Array(16), queued_at: 0 });
  for (let i = 0; i < 500 && (shown.length < 2 || problems.length === 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 300)); // a few more polls
  await watcher.stop();
  assert.deepEqual(shown, ['session alice: hello', 'message alice: pushed']);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0]!, /cannot be decrypted/);
});
