import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  aeadDecrypt, aeadEncrypt, createInitialMessage, DecryptionError, generateKeyPair, InvalidKeyError, InvalidMessageError,
  openInitialMessage, SignatureError, xeddsaSign, xeddsaVerify, type InitialMessage, type KeyPair,
  type PreKeyBundle,
} from '../src/index.js';

const RUNS = 40;

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  const index = Math.floor(bit / 8) % out.length;
  out[index]! ^= 1 << (bit % 8);
  return out;
}

interface Party {
  identity: KeyPair;
  signedPreKey: KeyPair;
  oneTimePreKey: KeyPair;
  bundle: PreKeyBundle;
}

function makeResponder(withOneTimePreKey: boolean): Party {
  const identity = generateKeyPair();
  const signedPreKey = generateKeyPair();
  const oneTimePreKey = generateKeyPair();
  return {
    identity, signedPreKey, oneTimePreKey,
    bundle: {
      identityKey: identity.publicKey,
      signedPreKey: signedPreKey.publicKey,
      signedPreKeySignature: xeddsaSign(identity.privateKey, signedPreKey.publicKey),
      oneTimePreKey: withOneTimePreKey ? { id: 7, publicKey: oneTimePreKey.publicKey } : undefined,
    },
  };
}

const keysOf = (bob: Party, withOneTimePreKey: boolean) => ({
  identity: bob.identity,
  signedPreKey: bob.signedPreKey.privateKey,
  oneTimePreKey: withOneTimePreKey ? bob.oneTimePreKey.privateKey : undefined,
});

function handshake(withOneTimePreKey: boolean, plaintext: Uint8Array) {
  const alice = generateKeyPair();
  const bob = makeResponder(withOneTimePreKey);
  const { secrets, message } = createInitialMessage(alice, bob.bundle, plaintext);
  return { alice, bob, secrets, message, keys: keysOf(bob, withOneTimePreKey) };
}

describe('random X3DH handshakes', () => {
  test('initiator and responder agree on SK and AD, and the first message opens', () => {
    fc.assert(fc.property(fc.boolean(), fc.uint8Array({ maxLength: 200 }), (withOpk, plaintext) => {
      const { alice, bob, secrets, message, keys } = handshake(withOpk, plaintext);
      assert.equal(message.oneTimePreKeyId, withOpk ? 7 : null);
      const opened = openInitialMessage(keys, message);
      assert.deepEqual(opened.secrets.sharedKey, secrets.sharedKey);
      assert.deepEqual(opened.secrets.associatedData, secrets.associatedData);
      assert.deepEqual(secrets.associatedData.subarray(0, 32), alice.publicKey);
      assert.deepEqual(secrets.associatedData.subarray(32), bob.identity.publicKey);
      assert.deepEqual(opened.plaintext, plaintext);
    }), { numRuns: RUNS });
  });

  test('different handshakes give different keys', () => {
    const a = handshake(true, new Uint8Array(1));
    const b = handshake(true, new Uint8Array(1));
    assert.notDeepEqual(a.secrets.sharedKey, b.secrets.sharedKey);
  });

  test('without the one-time prekey the responder derives another key', () => {
    const { message, keys } = handshake(true, new Uint8Array(8));
    assert.throws(() => openInitialMessage({ ...keys, oneTimePreKey: undefined }, message), DecryptionError);
  });
});

describe('a flipped bit makes the operation fail with the right error', () => {
  const tampered = (field: keyof InitialMessage) =>
    fc.property(fc.boolean(), fc.nat(), (withOpk, bit) => {
      const { message, keys } = handshake(withOpk, new Uint8Array(64).fill(0x41));
      const value = message[field];
      assert.ok(value instanceof Uint8Array);
      const bad = { ...message, [field]: flipBit(value, bit % (value.length * 8)) };
      assert.throws(() => openInitialMessage(keys, bad), (error: unknown) =>
        error instanceof DecryptionError
        // a flipped key can be non-canonical (bit 255) or land on a small-order point: refused before decryption
        || (field !== 'ciphertext' && field !== 'nonce'
          && ['INVALID_KEY', 'SMALL_ORDER_KEY'].includes((error as { code?: string }).code ?? '')));
    });

  test('in the ciphertext', () => fc.assert(tampered('ciphertext'), { numRuns: RUNS }));
  test('in the nonce', () => fc.assert(tampered('nonce'), { numRuns: RUNS }));
  test('in the initiator identity key', () => fc.assert(tampered('identityKey'), { numRuns: RUNS }));
  test('in the ephemeral key', () => fc.assert(tampered('ephemeralKey'), { numRuns: RUNS }));

  test('in the associated data', () => {
    fc.assert(fc.property(fc.nat(), (bit) => {
      const { secrets, message, keys } = handshake(true, new Uint8Array(64));
      const ad = flipBit(secrets.associatedData, bit % 512);
      // A carried AD must equal the rebuilt one...
      assert.throws(() => openInitialMessage(keys, message, { carriedAssociatedData: ad }), InvalidMessageError);
      // ...and the AEAD itself refuses any other AD.
      assert.throws(() => aeadDecrypt(secrets.sharedKey, message.nonce, message.ciphertext, ad), DecryptionError);
    }), { numRuns: RUNS });
  });

  test('in the signed prekey signature', () => {
    fc.assert(fc.property(fc.nat(), (bit) => {
      const bob = makeResponder(true);
      const bundle = { ...bob.bundle, signedPreKeySignature: flipBit(bob.bundle.signedPreKeySignature, bit % 512) };
      assert.throws(() => createInitialMessage(generateKeyPair(), bundle, new Uint8Array(1)), SignatureError);
    }), { numRuns: RUNS });
  });

  test('in the signed prekey or the identity key of a bundle', () => {
    fc.assert(fc.property(fc.boolean(), fc.nat(), (which, bit) => {
      const bob = makeResponder(true);
      const field = which ? 'signedPreKey' : 'identityKey';
      const bundle = { ...bob.bundle, [field]: flipBit(bob.bundle[field], bit % 256) };
      // Verification masks bit 255 of the identity key (as libxeddsa does), so with that bit flipped the
      // signature still verifies and the key is refused next, as a non-canonical encoding.
      const expected = !which && bit % 256 === 255 ? InvalidKeyError : SignatureError;
      assert.throws(() => createInitialMessage(generateKeyPair(), bundle, new Uint8Array(1)), expected);
    }), { numRuns: RUNS, examples: [[false, 255], [true, 255]] });
  });

  test('in the chat key', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(), (key, bit) => {
      const nonce = new Uint8Array(24);
      const ciphertext = aeadEncrypt(key, nonce, new Uint8Array(10));
      assert.throws(() => aeadDecrypt(flipBit(key, bit % 256), nonce, ciphertext), DecryptionError);
    }), { numRuns: RUNS });
  });
});

describe('XEdDSA', () => {
  test('signatures verify; a flipped bit in signature, message or key does not', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(), (message, bit) => {
      const key = generateKeyPair();
      const signature = xeddsaSign(key.privateKey, message);
      assert.equal(xeddsaVerify(key.publicKey, message, signature), true);
      assert.equal(xeddsaVerify(key.publicKey, message, flipBit(signature, bit % 512)), false);
      // Bit 255 of the X25519 key is masked by the conversion, as in the firmware.
      const keyBit = bit % 255;
      assert.equal(xeddsaVerify(flipBit(key.publicKey, keyBit), message, signature), false);
      if (message.length > 0) {
        assert.equal(xeddsaVerify(key.publicKey, flipBit(message, bit % (message.length * 8)), signature), false);
      }
    }), { numRuns: RUNS });
  });
});
