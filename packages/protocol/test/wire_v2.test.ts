import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  DecryptionError, generateKeyPair, InvalidLengthError, InvalidMessageError, SignatureError, utf8, wireV2,
} from '../src/index.js';

const fields = (): wireV2.SignedRequestFields => ({
  deploymentId: 'plant-7',
  operation: 'bundle.fetch',
  device: 'alice',
  requestId: Uint8Array.from({ length: 16 }, (_, i) => i),
  timestamp: 1_764_097_200_123,
  payload: new TextEncoder().encode('{"device":"bob"}'),
});

describe('v2 request signatures', () => {
  test('the signed string is the documented layout', () => {
    const f = fields();
    const expected = Buffer.concat([
      Buffer.from('x3dh-iot/v2/request\0'),
      Buffer.from([7]), Buffer.from('plant-7'),
      Buffer.from([12]), Buffer.from('bundle.fetch'),
      Buffer.from([5]), Buffer.from('alice'),
      Buffer.from(f.requestId),
      Buffer.from('0000019abc630ffb', 'hex'),
      createHash('sha512').update(f.payload).digest(),
    ]);
    assert.equal(Buffer.from(wireV2.requestSignatureInput(f)).toString('hex'), expected.toString('hex'));
  });

  test('a signature verifies only for the exact deployment, operation, device, id, time and payload', () => {
    const key = generateKeyPair();
    const f = fields();
    const signature = wireV2.signRequest(key.privateKey, f);
    assert.equal(wireV2.verifyRequest(key.publicKey, f, signature), true);
    const variants: wireV2.SignedRequestFields[] = [
      { ...f, deploymentId: 'plant-8' },
      { ...f, operation: 'directory.lookup' },
      { ...f, device: 'alicf' },
      { ...f, requestId: Uint8Array.from(f.requestId, (b, i) => (i === 15 ? b ^ 1 : b)) },
      { ...f, timestamp: f.timestamp + 1 },
      { ...f, payload: new TextEncoder().encode('{"device":"bob" }') },
    ];
    for (const variant of variants) assert.equal(wireV2.verifyRequest(key.publicKey, variant, signature), false);
    assert.equal(wireV2.verifyRequest(generateKeyPair().publicKey, f, signature), false);
  });

  test('distinct fields never share a signed string (length prefixes)', () => {
    fc.assert(fc.property(
      fc.constantFrom(...wireV2.V2_OPERATIONS), fc.constantFrom(...wireV2.V2_OPERATIONS),
      fc.stringMatching(/^[a-z.]{1,8}$/), fc.stringMatching(/^[a-z.]{1,8}$/),
      (op1, op2, d1, d2) => {
        const a = wireV2.requestSignatureInput({ ...fields(), operation: op1, device: d1 });
        const b = wireV2.requestSignatureInput({ ...fields(), operation: op2, device: d2 });
        assert.equal(Buffer.from(a).equals(Buffer.from(b)), op1 === op2 && d1 === d2);
      }), { numRuns: 200 });
  });

  test('bad fields are refused with typed errors', () => {
    assert.throws(() => wireV2.requestSignatureInput({ ...fields(), device: 'a/b' }), InvalidMessageError);
    assert.throws(() => wireV2.requestSignatureInput({ ...fields(), deploymentId: 'a b' }), InvalidMessageError);
    assert.throws(() => wireV2.requestSignatureInput({ ...fields(), operation: 'drop.table' as wireV2.V2Operation }), InvalidMessageError);
    assert.throws(() => wireV2.requestSignatureInput({ ...fields(), requestId: new Uint8Array(15) }), InvalidLengthError);
    assert.throws(() => wireV2.requestSignatureInput({ ...fields(), timestamp: -1 }), InvalidMessageError);
    assert.throws(() => wireV2.verifyRequest(generateKeyPair().publicKey, fields(), new Uint8Array(63)), InvalidLengthError);
  });
});

describe('v2 topics', () => {
  test('request topics round-trip; anything else is refused', () => {
    assert.deepEqual(wireV2.parseRequestTopic(wireV2.requestTopic('esp32-a', 'mailbox.ack')), { device: 'esp32-a', operation: 'mailbox.ack' });
    for (const bad of ['x3dh/v2/req/alice', 'x3dh/v2/req/alice/nope', 'x3dh/v2/req/a+b/enroll', 'x3dh/v1/req/alice/enroll',
      'x3dh/v2/req/alice/enroll/extra', 'x3dh/v2/resp/alice/enroll']) {
      assert.equal(wireV2.parseRequestTopic(bad), null, bad);
    }
    assert.equal(wireV2.responseTopic('bob'), 'x3dh/v2/resp/bob');
    assert.equal(wireV2.pushTopic('bob'), 'x3dh/v2/push/bob');
  });
});

describe('safety numbers', () => {
  test('both sides compute the same 60 digits; another key changes them', () => {
    const alice = { name: 'alice', identityKey: generateKeyPair().publicKey };
    const bob = { name: 'bob', identityKey: generateKeyPair().publicKey };
    const number = wireV2.safetyNumber(alice, bob);
    assert.match(number, /^\d{60}$/);
    assert.equal(wireV2.safetyNumber(bob, alice), number);
    assert.notEqual(wireV2.safetyNumber(alice, { ...bob, identityKey: generateKeyPair().publicKey }), number);
    assert.match(wireV2.formatSafetyNumber(number), /^(\d{5} ){11}\d{5}$/);
  });
});

describe('v2 envelopes', () => {
  const alice = generateKeyPair();
  const bob = generateKeyPair();
  const spk = generateKeyPair();
  const opk = generateKeyPair();
  const bundle = {
    device: 'bob', identityKey: bob.publicKey, signedPreKey: spk.publicKey, signedPreKeyId: 7,
    signedPreKeySignature: wireV2.signSignedPreKey(bob.privateKey, 'bob', 7, spk.publicKey), oneTimePreKey: { id: 101, publicKey: opk.publicKey },
  };
  const responder = { identity: bob, signedPreKey: spk.privateKey, oneTimePreKey: opk.privateKey };

  test('an initial envelope survives encoding and opens with the responder keys', () => {
    const { sharedKey, envelope } = wireV2.sealInitialEnvelope(alice, bundle, utf8.encode('hello'));
    const decoded = wireV2.decodeInitialEnvelope(wireV2.encodeInitialEnvelope(envelope));
    assert.ok(decoded.ok);
    assert.equal(decoded.value.signedPreKeyId, 7);
    assert.equal(decoded.value.oneTimePreKeyId, 101);
    const opened = wireV2.openInitialEnvelope(responder, decoded.value);
    assert.equal(utf8.decode(opened.plaintext), 'hello');
    assert.deepEqual(opened.sharedKey, sharedKey);
  });

  test('the AD binds the prekey ids and the ephemeral key: changing any fails decryption', () => {
    const { envelope } = wireV2.sealInitialEnvelope(alice, bundle, utf8.encode('hello'));
    assert.equal(wireV2.initialAssociatedData(alice.publicKey, bob.publicKey, 7, null, envelope.ephemeralKey).length, 104);
    for (const changed of [{ signedPreKeyId: 8 }, { oneTimePreKeyId: 102 }, { oneTimePreKeyId: null }]) {
      assert.throws(() => wireV2.openInitialEnvelope(responder, { ...envelope, ...changed }), DecryptionError);
    }
  });

  test('a bad signed-prekey signature aborts the initiator', () => {
    const forged = { ...bundle, signedPreKeySignature: wireV2.signSignedPreKey(alice.privateKey, 'bob', 7, spk.publicKey) };
    assert.throws(() => wireV2.sealInitialEnvelope(alice, forged, utf8.encode('x')), SignatureError);
  });

  test('session envelopes bind the direction and the message number', () => {
    const key = new Uint8Array(32).fill(3);
    const sealed = wireV2.sealSessionEnvelope(key, alice.publicKey, bob.publicKey, 4, utf8.encode('hi'));
    const opened = wireV2.openSessionEnvelope(key, alice.publicKey, bob.publicKey, sealed);
    assert.equal(opened.n, 4);
    assert.equal(utf8.decode(opened.plaintext), 'hi');
    assert.throws(() => wireV2.openSessionEnvelope(key, bob.publicKey, alice.publicKey, sealed), DecryptionError);
    const renumbered = JSON.stringify({ ...JSON.parse(utf8.decode(sealed)), n: 5 });
    assert.throws(() => wireV2.openSessionEnvelope(key, alice.publicKey, bob.publicKey, utf8.encode(renumbered)), DecryptionError);
    assert.throws(() => wireV2.openSessionEnvelope(key, alice.publicKey, bob.publicKey, utf8.encode('{"v":1}')), InvalidMessageError);
  });

  test('an identity rotation proof verifies only for the new key, device and old key', () => {
    const next = generateKeyPair();
    const proof = wireV2.signRotationProof(next.privateKey, 'alice', alice.publicKey);
    assert.ok(wireV2.verifyRotationProof(next.publicKey, 'alice', alice.publicKey, proof));
    assert.ok(!wireV2.verifyRotationProof(next.publicKey, 'alice2', alice.publicKey, proof));
    assert.ok(!wireV2.verifyRotationProof(next.publicKey, 'alice', bob.publicKey, proof));
    assert.ok(!wireV2.verifyRotationProof(alice.publicKey, 'alice', alice.publicKey, proof));
  });
});

describe('v2 request bodies', () => {
  test('bodies are strict: unknown members, bad names and oversize lists are refused with the field named', () => {
    const parse = (op: wireV2.V2Operation, body: unknown) => wireV2.parsePayload(wireV2.requestBodies[op], JSON.stringify(body));
    assert.deepEqual(parse('bundle.fetch', { device: 'bob' }), { ok: true, value: { device: 'bob' } });
    assert.match((parse('bundle.fetch', { device: 'bo/b' }) as { error: string }).error, /^device: /);
    assert.match((parse('bundle.fetch', { device: 'bob', extra: 1 }) as { error: string }).error, /extra/);
    const keys = Array.from({ length: 101 }, (_, id) => ({ id, key: 'A'.repeat(43) }));
    assert.match((parse('prekeys.upload', { one_time_prekeys: keys }) as { error: string }).error, /^one_time_prekeys: /);
    assert.match((parse('mailbox.ack', { ids: ['01'] }) as { error: string }).error, /^ids\.0: /);
  });
});
