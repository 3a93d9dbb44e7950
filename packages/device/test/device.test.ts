import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBase64url, generateKeyPair, wireV1 } from '@x3dh-iot/protocol';
import { RequestTimeoutError } from '@x3dh-iot/transport';
import { Device, DeviceError, InboxWatcher, MemoryKeyStore, V1Client } from '../src/index.js';
import { FakeV1Server } from './support/fake_v1_server.js';

async function device(server: FakeV1Server, name: string, store = new MemoryKeyStore()): Promise<Device> {
  const d = await Device.open(store, new V1Client(server.requester()));
  await d.setUsername(name);
  await d.registerIdentity();
  await d.publishBundle();
  return d;
}

async function rejects(promise: Promise<unknown>, kind: DeviceError['kind'], pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof DeviceError && error.kind === kind && pattern.test(error.message));
}

test('handshake and chat in both directions, with firmware-exact payloads', async () => {
  const server = new FakeV1Server();
  const alice = await device(server, 'alice');
  const bob = await device(server, 'bob');
  assert.deepEqual(await alice.listUsers(), ['alice', 'bob']);

  const bundle = JSON.parse(server.published.find((p) => p.topic === 'x3dh/register/bundle')!.payload);
  assert.deepEqual(Object.keys(bundle), ['username', 'spk_b64', 'spk_sig_b64', 'opks_b64']);
  assert.deepEqual(bundle.opks_b64.map((o: { id: number }) => o.id), [0, 1, 2, 3, 4]);

  const started = await alice.startSession('bob', 'hello bob');
  assert.equal(started.oneTimePreKeyId, 0);
  const init = server.published.find((p) => p.topic === 'x3dh/msg/init')!.payload;
  assert.deepEqual(Object.keys(JSON.parse(init)), ['to', 'from', 'ik_b64', 'ek_b64', 'ciphertext_b64', 'ad_b64', 'nonce_b64', 'opk_id']);

  const sessions: string[] = [];
  bob.on('session', (s) => sessions.push(`${s.peer}: ${s.text}`));
  assert.deepEqual(await bob.checkInbox(), { peer: 'alice', text: 'hello bob', identityChanged: false });
  assert.deepEqual(sessions, ['alice: hello bob']);
  assert.equal(await bob.checkInbox(), null);

  await bob.send('alice', 'hi alice');
  await alice.send('bob', 'one');
  await alice.send('bob', 'two');
  assert.deepEqual(await alice.read('bob'), { messages: ['hi alice'], undecryptable: 0 });
  assert.deepEqual(await bob.read('alice'), { messages: ['one', 'two'], undecryptable: 0 });
  assert.deepEqual(await bob.read('alice'), { messages: [], undecryptable: 0 });
});

test('the used one-time prekey is deleted after a successful decrypt and never reused', async () => {
  const server = new FakeV1Server();
  const store = new MemoryKeyStore();
  const alice = await device(server, 'alice');
  const bob = await device(server, 'bob', store);
  await alice.startSession('bob', 'x');
  assert.ok((await store.load()).oneTimePreKeys.has(0));
  await bob.checkInbox();
  const state = await store.load();
  assert.ok(!state.oneTimePreKeys.has(0));
  assert.deepEqual([...state.oneTimePreKeys.keys()], [1, 2, 3, 4]);

  const republished = await bob.publishBundle();
  assert.deepEqual(republished.oneTimePreKeyIds, [5, 6, 7, 8, 9]);
  assert.equal(republished.signedPreKeyId, 2);
  assert.deepEqual((await bob.publishBundle(12)).oneTimePreKeyIds, Array.from({ length: 12 }, (_, i) => 10 + i));
  assert.deepEqual((await bob.publishBundle(0)).oneTimePreKeyIds, []);
  await rejects(bob.publishBundle(101), 'INVALID_INPUT', /from 0 to 100/);
});

test('an initial message sent before a republish still opens (older signed prekey kept)', async () => {
  const server = new FakeV1Server();
  const alice = await device(server, 'alice');
  const bob = await device(server, 'bob');
  await alice.startSession('bob', 'sent to the old bundle');
  await bob.publishBundle();
  assert.equal((await bob.checkInbox())?.text, 'sent to the old bundle');
});

test('a mismatched associated data is refused, and nothing is saved or deleted', async () => {
  const server = new FakeV1Server();
  const store = new MemoryKeyStore();
  const alice = await device(server, 'alice');
  const bob = await device(server, 'bob', store);
  const before = await store.load();
  server.tamper = (topic, payload) => (topic === 'x3dh/msg/init'
    ? { ...payload, ad_b64: encodeBase64url(new Uint8Array(64).fill(7)) } : payload);
  await alice.startSession('bob', 'x');
  await rejects(bob.checkInbox(), 'SECURITY', /associated data/);
  assert.deepEqual(await store.load(), before);
});

test('a tampered ciphertext fails to decrypt and keeps the one-time prekey', async () => {
  const server = new FakeV1Server();
  const store = new MemoryKeyStore();
  const alice = await device(server, 'alice');
  const bob = await device(server, 'bob', store);
  server.tamper = (topic, payload) => {
    if (topic !== 'x3dh/msg/init') return payload;
    const ct = Buffer.from(String(payload.ciphertext_b64), 'base64url');
    ct[0]! ^= 1;
    return { ...payload, ciphertext_b64: ct.toString('base64url') };
  };
  await alice.startSession('bob', 'x');
  await rejects(bob.checkInbox(), 'SECURITY', /authentication failed/);
  const after = await store.load();
  assert.ok(after.oneTimePreKeys.has(0));
  assert.equal(after.sessions.size, 0);
});

test('a bundle with a bad signed-prekey signature is refused before anything is sent', async () => {
  const server = new FakeV1Server();
  const alice = await device(server, 'alice');
  await device(server, 'bob');
  server.bundles.get('bob')!.spk_b64 = encodeBase64url(generateKeyPair().publicKey);
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /signature/);
  assert.equal(server.published.filter((p) => p.topic === wireV1.V1_TOPICS.initialMessage).length, 0);
  assert.deepEqual(alice.peers, []);
});

test('the device adopts the name the server assigns, and re-registering keeps it', async () => {
  const server = new FakeV1Server();
  await device(server, 'bob');
  const other = await Device.open(new MemoryKeyStore(), new V1Client(server.requester()));
  await other.setUsername('bob');
  assert.deepEqual(await other.registerIdentity(), { username: 'bob2', renamedFrom: 'bob', newIdentity: true });
  assert.equal(other.username, 'bob2');
  assert.deepEqual(await other.registerIdentity(), { username: 'bob2', renamedFrom: null, newIdentity: false });
});

test('missing preconditions and server errors are typed errors', async () => {
  const server = new FakeV1Server();
  const fresh = await Device.open(new MemoryKeyStore(), new V1Client(server.requester()));
  await rejects(fresh.registerIdentity(), 'NOT_READY', /no username/);
  await rejects(fresh.setUsername('a/b'), 'INVALID_INPUT', /must not contain/);
  await fresh.setUsername('carol');
  await rejects(fresh.publishBundle(), 'NOT_READY', /Register Identity first/);
  const alice = await device(server, 'alice');
  await rejects(alice.send('nobody', 'x'), 'NOT_READY', /no shared key with nobody/);
  await rejects(alice.startSession('nobody', 'x'), 'SERVER_REFUSED', /Bundle not found/);
});

test('idempotent requests are retried after a timeout, the others are not', async () => {
  const server = new FakeV1Server();
  const inner = server.requester();
  let failures = 0;
  const flaky = {
    request: async (topic: string, payload: string | Buffer) => {
      if (failures++ % 2 === 0) throw new RequestTimeoutError(topic, 10);
      return inner.request(topic, payload);
    },
  };
  const client = new V1Client(flaky, { retries: 1 });
  assert.deepEqual(await client.users(), []);
  failures = 0;
  await rejects(client.fetchInbox('alice'), 'UNREACHABLE', /may still have been processed/);
});

test('a watcher turns incoming handshakes and messages into events without being asked', async () => {
  const server = new FakeV1Server();
  const alice = await device(server, 'alice');
  const bob = await device(server, 'bob');
  const seen: string[] = [];
  bob.on('session', (s) => seen.push(`session ${s.peer}: ${s.text}`));
  bob.on('message', (m) => seen.push(`message ${m.peer}: ${m.text}`));
  const watcher = new InboxWatcher(bob, 10).start();
  await alice.startSession('bob', 'hello');
  await alice.send('bob', 'one');
  for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  await watcher.stop();
  assert.deepEqual(seen, ['session alice: hello', 'message alice: one']);
});

test('old prekeys are pruned within bounds: 100 unused one-time prekeys, signed prekeys within the grace period', async () => {
  const server = new FakeV1Server();
  const store = new MemoryKeyStore();
  const bob = await device(server, 'bob', store);
  for (let i = 0; i < 24; i++) await bob.publishBundle();
  const state = await store.load();
  const opkIds = [...state.oneTimePreKeys.keys()].sort((a, b) => a - b);
  assert.deepEqual([opkIds.length, opkIds[0], opkIds.at(-1)], [100, 25, 124]);
  assert.deepEqual(state.signedPreKeys.map((spk) => spk.id), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);

  const noGrace = await Device.open(store, new V1Client(server.requester()), { signedPreKeyGraceMs: 0 });
  await noGrace.publishBundle();
  assert.deepEqual((await store.load()).signedPreKeys.map((spk) => spk.id), [26]);
});

test('a peer whose identity key changed is flagged on both sides of a new handshake', async () => {
  const server = new FakeV1Server();
  const alice = await device(server, 'alice');
  const bob = await device(server, 'bob');
  await alice.startSession('bob', 'first');
  await bob.checkInbox();
  server.identities.delete('bob');
  const newBob = await device(server, 'bob');
  assert.deepEqual(await alice.startSession('bob', 'again'), { oneTimePreKeyId: 0, identityChanged: true });
  assert.equal((await newBob.checkInbox())?.identityChanged, false, 'new bob never saw alice before');
  server.identities.delete('alice');
  const newAlice = await device(server, 'alice');
  await newAlice.startSession('bob', 'from a new alice');
  assert.deepEqual(await newBob.checkInbox(), { peer: 'alice', text: 'from a new alice', identityChanged: true });
});
