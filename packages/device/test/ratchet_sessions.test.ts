import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decodeRatchetSession, type KeyPair, ProtocolError, ratchetDecrypt, utf8, wireV2 } from '@x3dh-iot/protocol';
import { type DeviceState, MemoryKeyStore, type PeerSession } from '../src/index.js';
import { stateFromJson, stateToJson } from '../src/state_codec.js';
import { FakeV2Server } from './support/fake_v2_server.js';
import { insert, legacyInitial } from './support/legacy_peer.js';
import { enrolled, openV2 } from './support/v2_devices.js';

/**
 * Device sessions on the Double Ratchet (docs/protocol-v2.md section 7), on the in-process fake
 * server: crossed handshakes, sessions of stores written before the ratchet (envelope version 1),
 * and forward secrecy of a stolen key store.
 */

const envelopeJson = (message: wireV2.MailboxMessage) => JSON.parse(Buffer.from(message.envelope).toString('utf8')) as Record<string, unknown>;
const lastSent = (server: FakeV2Server, to: string) => envelopeJson(server.mailbox(to).at(-1)!);

async function chatPair(server: FakeV2Server) {
  const aliceStore = new MemoryKeyStore();
  const bobStore = new MemoryKeyStore();
  return { alice: await enrolled(server, 'alice', aliceStore), bob: await enrolled(server, 'bob', bobStore), aliceStore, bobStore };
}

test('crossed handshakes: both sides keep the other session archived, so every message sent in either session opens', async () => {
  const server = new FakeV2Server();
  const { alice, bob, aliceStore, bobStore } = await chatPair(server);
  await alice.startSession('bob', 'a0');
  await bob.startSession('alice', 'b0');
  // Each goes on in its own session before reading the other's handshake.
  await alice.send('bob', 'a1');
  await bob.send('alice', 'b1');
  assert.deepEqual((await alice.read('bob')).messages, ['b0', 'b1']);
  assert.deepEqual((await bob.read('alice')).messages, ['a0', 'a1']);
  for (const store of [aliceStore, bobStore]) {
    const record = [...(await store.load()).v2.sessions.values()][0]!;
    assert.equal(record.archived.length, 1, 'the crossed session is archived, not dropped');
    assert.deepEqual([record.current.kind, record.archived[0]!.kind], ['ratchet', 'ratchet']);
  }
  // Both now send in the session the smaller name started (alice's); messages still in flight in the
  // other one open from the archive.
  await bob.send('alice', 'b2');
  await alice.send('bob', 'a2');
  await bob.send('alice', 'b3');
  assert.deepEqual((await alice.read('bob')).messages, ['b2', 'b3']);
  assert.deepEqual((await bob.read('alice')).messages, ['a2']);
  const [a, b] = [(await aliceStore.load()).v2.sessions.get('bob')!, (await bobStore.load()).v2.sessions.get('alice')!];
  assert.deepEqual([a.current.role, b.current.role], ['initiator', 'responder'], 'one shared current session');
});

/** Alice and Bob with an envelope-version-1 session each, as stores written before the Double Ratchet hold them. */
async function legacyPair(server: FakeV2Server) {
  const { alice, bob, aliceStore, bobStore } = await chatPair(server);
  const sharedKey = randomBytes(32);
  const [a, b] = [await aliceStore.load(), await bobStore.load()];
  const legacy = (state: DeviceState, peer: string, peerState: DeviceState, role: 'initiator' | 'responder') => {
    const json = stateToJson(state) as { v2: { sessions: unknown[] } };
    json.v2.sessions = [{
      peer, sharedKey: sharedKey.toString('base64url'), peerIdentityKey: Buffer.from(peerState.identity!.publicKey).toString('base64url'),
      role, establishedAt: new Date().toISOString(), sendNext: 0, receivedFloor: 0, receivedAbove: [],
    }];
    return stateFromJson(json);
  };
  await aliceStore.save(legacy(a, 'bob', b, 'initiator'));
  await bobStore.save(legacy(b, 'alice', a, 'responder'));
  await Promise.all([alice.close(), bob.close()]);
  return { alice: await openV2(server, null, aliceStore), bob: await openV2(server, null, bobStore), aliceStore, bobStore, bobIdentity: b.identity! };
}

test('sessions of earlier stores keep sending "v":1 until the peer answers in a ratchet session, and never again after', async () => {
  const server = new FakeV2Server();
  const { alice, bob, aliceStore, bobIdentity } = await legacyPair(server);
  assert.equal((await aliceStore.load()).v2.sessions.get('bob')!.current.kind, 'shared-key', 'the old store loads');
  await alice.send('bob', 'old 1');
  assert.equal(lastSent(server, 'bob').v, 1);
  await bob.send('alice', 'old 2');
  assert.deepEqual((await bob.read('alice')).messages, ['old 1']);

  // Bob moves on: a ratchet handshake, then a ratchet message. Alice reads the handshake before
  // the version-1 message sent ahead of it (the archived session still opens that one).
  await bob.startSession('alice', 'ratchet 0');
  await bob.send('alice', 'ratchet 1');
  assert.equal(lastSent(server, 'alice').v, 2);
  const mailbox = server.mailbox('alice');
  mailbox.push(mailbox.shift()!);
  assert.deepEqual((await alice.read('bob')).messages, ['ratchet 0', 'ratchet 1', 'old 2']);
  await alice.send('bob', 'moved on');
  assert.equal(lastSent(server, 'bob').v, 2);

  // A delayed handshake of the old form from Bob is still accepted, but brings back no "v":1.
  insert(server, 'alice', 'bob', 'x3dh.initial', legacyInitial(server, 'alice', bobIdentity, 'delayed old handshake').envelope);
  assert.deepEqual((await alice.inbox()).session?.text, 'delayed old handshake');
  await alice.send('bob', 'still ratchet');
  assert.equal(lastSent(server, 'bob').v, 2);
  assert.deepEqual((await bob.read('alice')).messages, ['moved on', 'still ratchet']);
  const record = (await aliceStore.load()).v2.sessions.get('bob')!;
  assert.deepEqual([record.current.kind, record.ratchetAnswered], ['ratchet', true]);
});

test('a peer still on the earlier version starts with an old-form handshake: accepted, and answered with "v":1 it can open', async () => {
  const server = new FakeV2Server();
  const bob = await enrolled(server, 'bob');
  const carolStore = new MemoryKeyStore();
  await enrolled(server, 'carol', carolStore); // enrolled; its messages are built here as the earlier version did
  const carolIdentity: KeyPair = (await carolStore.load()).identity!;
  const handshake = legacyInitial(server, 'bob', carolIdentity, 'hello from the old firmware');
  insert(server, 'bob', 'carol', 'x3dh.initial', handshake.envelope);
  assert.equal((await bob.checkInbox())!.text, 'hello from the old firmware');
  await bob.send('carol', 'answer');
  const answer = server.mailbox('carol').at(-1)!;
  assert.equal(envelopeJson(answer).v, 1);
  const opened = wireV2.openSessionEnvelope(handshake.sharedKey, bob.identityKey!, carolIdentity.publicKey, answer.envelope);
  assert.equal(utf8.decode(opened.plaintext), 'answer');
});

/** Tries every session a key store holds on a message: what a thief of the store can do with its keys. */
function opensWithStoredKeys(state: DeviceState, peer: string, message: wireV2.MailboxMessage): boolean {
  const record = state.v2.sessions.get(peer)!;
  const envelope = wireV2.decodeSessionEnvelope(message.envelope);
  assert.ok(envelope.ok);
  return [record.current, ...record.archived].some((session: PeerSession) => {
    try {
      if (session.kind === 'ratchet' && envelope.value.version === 2) ratchetDecrypt(decodeRatchetSession(session.ratchet), envelope.value.message);
      else if (session.kind === 'shared-key') wireV2.openSessionEnvelope(session.sharedKey, session.peerIdentityKey, state.identity!.publicKey, message.envelope);
      else return false;
      return true;
    } catch (error) {
      if (error instanceof ProtocolError) return false;
      throw error;
    }
  });
}

test('attack: a copy of the key store taken later opens none of the messages received before (forward secrecy)', async () => {
  for (const kind of ['ratchet', 'shared-key'] as const) {
    const server = new FakeV2Server();
    const pair = kind === 'ratchet' ? await chatPair(server) : await legacyPair(server);
    const { alice, bob, bobStore } = pair;
    if (kind === 'ratchet') {
      await alice.startSession('bob', 'hello');
      await bob.checkInbox();
    }
    const captured: wireV2.MailboxMessage[] = [];
    for (let round = 0; round < 5; round++) {
      await alice.send('bob', `secret ${round}a`);
      await alice.send('bob', `secret ${round}b`);
      captured.push(...server.mailbox('bob').map((m) => ({ ...m })));
      assert.equal((await bob.read('alice')).messages.length, 2);
      await bob.send('alice', `reply ${round}`);
      await alice.read('bob');
    }
    const stolen = await bobStore.load();
    const opened = captured.filter((m) => opensWithStoredKeys(stolen, 'alice', m)).length;
    if (kind === 'ratchet') {
      assert.equal(opened, 0, 'the ratchet keys that opened them are gone');
      // The thief runs the device code on the copy, with the captured messages delivered again.
      const thief = await openV2(server, null, Object.assign(new MemoryKeyStore(), { load: async () => structuredClone(stolen) }));
      for (const m of captured) server.replay('bob', m);
      const { accepted, problems } = await thief.syncMailbox();
      assert.deepEqual([accepted, problems.length], [0, captured.length]);
    } else {
      // Before the ratchet: the one stored key opens every message of the session.
      assert.equal(opened, captured.length);
    }
  }
});
