import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { generateKeyPair, InvalidLengthError, InvalidMessageError, wireV2 } from '../src/index.js';

const fields = (): wireV2.SignedRequestFields => ({
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
      Buffer.from([12]), Buffer.from('bundle.fetch'),
      Buffer.from([5]), Buffer.from('alice'),
      Buffer.from(f.requestId),
      Buffer.from('0000019abc630ffb', 'hex'),
      createHash('sha512').update(f.payload).digest(),
    ]);
    assert.equal(Buffer.from(wireV2.requestSignatureInput(f)).toString('hex'), expected.toString('hex'));
  });

  test('a signature verifies only for the exact operation, device, id, time and payload', () => {
    const key = generateKeyPair();
    const f = fields();
    const signature = wireV2.signRequest(key.privateKey, f);
    assert.equal(wireV2.verifyRequest(key.publicKey, f, signature), true);
    const variants: wireV2.SignedRequestFields[] = [
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
