import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBase64url, generateKeyPair } from '@x3dh-iot/protocol';
import { MemoryKeyStore, type DeviceState } from '../src/index.js';
import { FakeV2Server } from './support/fake_v2_server.js';
import { insert, legacyInitial } from './support/legacy_peer.js';
import { enrolled, openV2, refusalReasons, rejects } from './support/v2_devices.js';

/**
 * Identity certificates on the device (docs/protocol-v2.md section 6.11), against the in-process
 * fake server acting as a compromised server or broker: it answers whatever key it likes, but
 * cannot sign with the operator key, only replay certificates the operator once issued. Every
 * refusal happens without a person; an operator-certified rotation is accepted without one too.
 */

const snapshot = async (store: MemoryKeyStore): Promise<DeviceState> => store.load();
const sentInitials = (server: FakeV2Server, to: string) => server.mailbox(to).filter((m) => m.type === 'x3dh.initial').length;

test('attack: a swapped identity key in bundle.fetch is refused, nothing sent, nothing pinned', async () => {
  const server = new FakeV2Server();
  await enrolled(server, 'bob');
  const store = new MemoryKeyStore();
  const alice = await enrolled(server, 'alice', store);
  const mallory = generateKeyPair();
  server.tamperBundle = (bundle) => ({ ...bundle, identity_key: encodeBase64url(mallory.publicKey) });
  const before = await snapshot(store);
  await rejects(alice.startSession('bob', 'for bob only'), 'SECURITY', /identity certificate for bob does not verify/);
  assert.equal(sentInitials(server, 'bob'), 0);
  assert.deepEqual(await snapshot(store), before, 'no pin, no session');

  server.tamperBundle = (bundle) => Object.fromEntries(Object.entries(bundle).filter(([member]) => member !== 'certificate'));
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /carries no identity certificate/);
});

test('attack: a swapped identity key in directory.lookup is refused: an impostor\'s first message is not accepted', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bobStore = new MemoryKeyStore();
  const bob = await enrolled(server, 'bob', bobStore);
  const impostor = generateKeyPair();
  // The server vouches for the impostor's key under alice's name, with alice's real certificate.
  server.tamperLookup = (answer) => ({ ...answer, identity_key: encodeBase64url(impostor.publicKey) });
  insert(server, 'bob', 'alice', 'x3dh.initial', legacyInitial(server, 'bob', impostor, 'I am alice').envelope);
  const { session, problems } = await bob.inbox();
  assert.equal(session, null);
  assert.equal(problems[0]?.error.kind, 'SECURITY');
  assert.match((await refusalReasons(bobStore)).at(-1)!, /identity certificate for alice does not verify/);
  assert.equal((await snapshot(bobStore)).v2.pins.has('alice'), false, 'nothing pinned');
  await rejects(bob.safetyNumber('alice'), 'SECURITY', /does not verify/);

  // The genuine alice still gets through once the directory answers honestly.
  server.tamperLookup = null;
  await alice.startSession('bob', 'the real alice');
  assert.equal((await bob.checkInbox())!.text, 'the real alice');
});

test('attack: a valid certificate for another name, or for another deployment, is refused', async () => {
  const server = new FakeV2Server();
  await enrolled(server, 'bob');
  await enrolled(server, 'mallory');
  const alice = await enrolled(server, 'alice');
  const malloryKey = server.devices.get('mallory')!.identityKey;
  // Mallory's own key and genuine certificate, handed out as bob's.
  server.tamperBundle = (bundle) => ({ ...bundle, identity_key: encodeBase64url(malloryKey), certificate: server.certificate('mallory', malloryKey, 1) });
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /identity certificate for bob does not verify/);

  // A certificate the same operator key made for bob in another deployment.
  const other = generateKeyPair().publicKey;
  server.tamperBundle = (bundle) => ({ ...bundle, identity_key: encodeBase64url(other), certificate: server.certificate('bob', other, 5, 'other-deployment') });
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /identity certificate for bob does not verify/);
  assert.equal(sentInitials(server, 'bob'), 0);
});

test('attack: an identity at an epoch older than the pinned one is refused; the same epoch with another key too', async () => {
  const server = new FakeV2Server();
  const bob = await enrolled(server, 'bob');
  const alice = await enrolled(server, 'alice');
  const oldKey = server.devices.get('bob')!.identityKey;
  const oldCertificate = server.certificate('bob', oldKey, 1);
  await bob.rotateIdentity();
  await alice.startSession('bob', 'at epoch 2');
  assert.equal(alice.localStatus.certified.find((c) => c.peer === 'bob')?.epoch, 2);

  // A server rolled back (or an attacker who kept the old certificate) answers bob's epoch-1 key.
  server.tamperBundle = (bundle) => ({ ...bundle, identity_key: encodeBase64url(oldKey), certificate: oldCertificate });
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /epoch 1, older than the pinned epoch 2/);
  server.tamperLookup = (answer) => ({ ...answer, identity_key: encodeBase64url(oldKey), certificate: oldCertificate });
  await rejects(alice.trust('bob', (await alice.safetyNumber('bob')).directorySafetyNumber!), 'SECURITY', /older than the pinned epoch 2/);

  // Two keys certified for one epoch: refused as well.
  const twin = generateKeyPair().publicKey;
  server.tamperBundle = (bundle) => ({ ...bundle, identity_key: encodeBase64url(twin), certificate: server.certificate('bob', twin, 2) });
  await rejects(alice.startSession('bob', 'x'), 'SECURITY', /two identity keys of bob are certified for epoch 2/);
  assert.equal(alice.localStatus.certified.find((c) => c.peer === 'bob')?.epoch, 2, 'the pin stays');
});

test('a rotation with a newer epoch is accepted without a person, on both sides, and status says so', async () => {
  const server = new FakeV2Server();
  const alice = await enrolled(server, 'alice');
  const bob = await enrolled(server, 'bob');
  await alice.startSession('bob', 'before');
  assert.equal((await bob.checkInbox())!.text, 'before');
  const before = bob.localStatus.certified.find((c) => c.peer === 'alice');
  assert.deepEqual(before, { peer: 'alice', epoch: 1, certifiedRotationAt: null });

  // Alice rotates (epoch 2) and starts again: Bob, as responder, takes the certified new key.
  await alice.rotateIdentity();
  await alice.startSession('bob', 'after my rotation');
  assert.equal((await bob.checkInbox())!.text, 'after my rotation');
  const rotated = bob.localStatus.certified.find((c) => c.peer === 'alice')!;
  assert.equal(rotated.epoch, 2);
  assert.ok(rotated.certifiedRotationAt, 'status shows the operator-certified rotation');
  assert.match(bob.localStatus.trust, /operator-certified/);

  // Bob rotates: Alice, as initiator, takes it from the bundle.
  await bob.rotateIdentity();
  assert.equal((await alice.startSession('bob', 'to the new bob')).certifiedRotation, true);
  assert.equal((await bob.checkInbox())!.text, 'to the new bob');
});

test('a device without an operator key refuses peers\' keys unless set to trust on first use, which status shows', async () => {
  const server = new FakeV2Server();
  await enrolled(server, 'bob');
  const unprovisioned = await enrolled(server, 'alice', new MemoryKeyStore(), { provisioning: { deploymentId: server.deploymentId, operatorKey: null } });
  await rejects(unprovisioned.startSession('bob', 'x'), 'NOT_READY', /no operator key provisioned.*--trust-on-first-use/);
  assert.match(unprovisioned.localStatus.trust, /no operator key/);
  const tofu = await enrolled(server, 'carol', new MemoryKeyStore(),
    { provisioning: { deploymentId: server.deploymentId, operatorKey: null, trustOnFirstUse: true } });
  await tofu.startSession('bob', 'unverified');
  assert.match(tofu.localStatus.trust, /trust on first use \(NOT verified by an operator key/);
  assert.deepEqual(tofu.localStatus.certified, []);

  const none = await openV2(server, 'dave', new MemoryKeyStore(), { provisioning: undefined });
  await rejects(none.registerIdentity(), 'NOT_READY', /no deployment id provisioned/);
  const elsewhere = await openV2(server, 'erin', new MemoryKeyStore(), { provisioning: { deploymentId: 'other', operatorKey: server.operator.publicKey } });
  await rejects(elsewhere.registerIdentity(), 'SERVER_REFUSED', /wrong_deployment/);
});
