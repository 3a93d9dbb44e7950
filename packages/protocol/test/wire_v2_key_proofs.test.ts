import assert from 'node:assert/strict';
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { generateKeyPair, keyPairFromPrivateKey, SignatureError, utf8, wireV2, xeddsaSign } from '../src/index.js';

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** The test vectors of docs/protocol-v2.md sections 6.1 and 6.3. */
const identity = keyPairFromPrivateKey(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
const signedPreKey = keyPairFromPrivateKey(Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i));
const requestId = Uint8Array.from({ length: 16 }, (_, i) => i);

describe('v2 signed prekey signatures', () => {
  test('the signed string is the documented vector, and its signature verifies', () => {
    assert.equal(toHex(identity.publicKey), '07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c');
    assert.equal(toHex(signedPreKey.publicKey), '79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a');
    const input = wireV2.signedPreKeySignatureInput('bob', 7, signedPreKey.publicKey);
    assert.equal(toHex(input), Buffer.concat([
      Buffer.from('x3dh-iot/v2/signed-prekey\0'), Buffer.from([3]), Buffer.from('bob'), Buffer.from([0, 0, 0, 7]), signedPreKey.publicKey,
    ]).toString('hex'));
    const signature = xeddsaSign(identity.privateKey, input, new Uint8Array(64).fill(0x55));
    assert.equal(toHex(signature),
      'bf10fad84acfd68a97f83541d15d7146a32dacf3eea305e9f33c7edcc8bdca05924ebe3c6506a3b2898f30db65686015881345dd59d3ea8d9c21aa0957c6990f');
    assert.equal(wireV2.verifySignedPreKey(identity.publicKey, 'bob', 7, signedPreKey.publicKey, signature), true);
  });

  test('a signature verifies only for its device name, prekey id and key, never as the key alone (v1)', () => {
    const signature = wireV2.signSignedPreKey(identity.privateKey, 'bob', 7, signedPreKey.publicKey);
    assert.equal(wireV2.verifySignedPreKey(identity.publicKey, 'bob', 8, signedPreKey.publicKey, signature), false);
    assert.equal(wireV2.verifySignedPreKey(identity.publicKey, 'carol', 7, signedPreKey.publicKey, signature), false);
    assert.equal(wireV2.verifySignedPreKey(identity.publicKey, 'bob', 7, generateKeyPair().publicKey, signature), false);
    const keyOnly = xeddsaSign(identity.privateKey, signedPreKey.publicKey);
    assert.equal(wireV2.verifySignedPreKey(identity.publicKey, 'bob', 7, signedPreKey.publicKey, keyOnly), false);
  });

  test('attack: a bundle whose signed prekey is relabelled (another id or another device) aborts the initiator', () => {
    const alice = generateKeyPair();
    const bundle = {
      device: 'bob', identityKey: identity.publicKey, signedPreKey: signedPreKey.publicKey, signedPreKeyId: 7,
      signedPreKeySignature: wireV2.signSignedPreKey(identity.privateKey, 'bob', 7, signedPreKey.publicKey),
    };
    assert.ok(wireV2.sealRatchetInitialEnvelope(alice, bundle, utf8.encode('x')));
    for (const relabelled of [{ signedPreKeyId: 6 }, { device: 'carol' }]) {
      assert.throws(() => wireV2.sealRatchetInitialEnvelope(alice, { ...bundle, ...relabelled }, utf8.encode('x')), SignatureError);
      assert.throws(() => wireV2.sealInitialEnvelope(alice, { ...bundle, ...relabelled }, utf8.encode('x')), SignatureError);
    }
    const keyOnly = { ...bundle, signedPreKeySignature: xeddsaSign(identity.privateKey, signedPreKey.publicKey) };
    assert.throws(() => wireV2.sealRatchetInitialEnvelope(alice, keyOnly, utf8.encode('x')), SignatureError);
  });
});

describe('v2 enrolment proofs', () => {
  const token = 'sample-token-9xQ';

  test('token id, MAC key and proof are the documented vector, computed here again with node:crypto', () => {
    const secret = wireV2.enrolmentTokenSecret(token);
    assert.deepEqual(secret, Uint8Array.from(createHash('sha256').update(token).digest()));
    const tokenId = wireV2.enrolmentTokenId(secret);
    assert.equal(toHex(tokenId), 'bc347d96e1cb35e0fd0d88f12d85ff2facc0a4e599535aad33f948e5499365c7');
    assert.deepEqual(tokenId, Uint8Array.from(createHash('sha256').update('x3dh-iot/v2/enrolment-token-id\0').update(secret).digest()));
    const macKey = wireV2.enrolmentMacKey(secret);
    assert.equal(toHex(macKey), 'aec5df5866c0e7c7f399790dd60e4326d6ad2adf5761503447b90b614bdc8e6d');
    assert.deepEqual(macKey, new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), 'x3dh-iot/v2/enrolment-mac-key', 32)));
    const input = wireV2.enrolmentProofInput('bob', identity.publicKey, requestId);
    assert.deepEqual(input, Uint8Array.from(Buffer.concat([
      Buffer.from('x3dh-iot/v2/enrolment-proof\0'), Buffer.from([3]), Buffer.from('bob'), identity.publicKey, requestId,
    ])));
    const proof = wireV2.enrolmentProof(macKey, 'bob', identity.publicKey, requestId);
    assert.equal(toHex(proof), '30516e3e58718d1a278b5a4df1d77cd5c446e2ab47f0775e1bc2a65b18f48da4');
    assert.deepEqual(proof, Uint8Array.from(createHmac('sha256', macKey).update(input).digest()));
    assert.deepEqual(wireV2.enrolmentTokenClaim(token, 'bob', identity.publicKey, requestId), { tokenId, proof });
  });

  test('a proof verifies only for its name, identity key, request id and token', () => {
    const macKey = wireV2.enrolmentMacKey(wireV2.enrolmentTokenSecret(token));
    const proof = wireV2.enrolmentProof(macKey, 'bob', identity.publicKey, requestId);
    assert.equal(wireV2.verifyEnrolmentProof(macKey, 'bob', identity.publicKey, requestId, proof), true);
    assert.equal(wireV2.verifyEnrolmentProof(macKey, 'bobby', identity.publicKey, requestId, proof), false);
    assert.equal(wireV2.verifyEnrolmentProof(macKey, 'bob', generateKeyPair().publicKey, requestId, proof), false);
    assert.equal(wireV2.verifyEnrolmentProof(macKey, 'bob', identity.publicKey, hex('ff'.repeat(16)), proof), false);
    const otherKey = wireV2.enrolmentMacKey(wireV2.enrolmentTokenSecret(`${token}x`));
    assert.equal(wireV2.verifyEnrolmentProof(otherKey, 'bob', identity.publicKey, requestId, proof), false);
    assert.equal(wireV2.verifyEnrolmentProof(macKey, 'bob', identity.publicKey, requestId, proof.subarray(0, 31)), false);
  });

  test('enrol bodies carry the token id and proof together, never the token', () => {
    const parse = (body: unknown) => wireV2.parsePayload(wireV2.requestBodies.enroll, JSON.stringify(body));
    const key = Buffer.from(identity.publicKey).toString('base64url');
    const b64 = (n: number) => Buffer.alloc(n, 1).toString('base64url');
    assert.ok(parse({ identity_key: key }).ok);
    assert.ok(parse({ identity_key: key, token_id: b64(32), token_proof: b64(32) }).ok);
    for (const bad of [{ token: token }, { token_id: b64(32) }, { token_proof: b64(32) }, { token_id: b64(16), token_proof: b64(32) }]) {
      assert.equal(parse({ identity_key: key, ...bad }).ok, false, JSON.stringify(bad));
    }
  });
});
