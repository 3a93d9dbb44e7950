import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  aeadDecrypt, aeadEncrypt, createInitialMessage, decodeBase64urlFixed, diffieHellman, encodeBase64url,
  generateKeyPair, InvalidKeyError, InvalidLengthError, openInitialMessage, ProtocolError, publishedKeyProblem, SmallOrderKeyError,
  wireV1, x25519PublicKey, x3dhKdf, xeddsaSign, xeddsaVerify,
} from '../src/index.js';
import { hex, toHex } from './vector_files.js';

/** X25519 u-coordinates of small order (orders 1, 2, 4, 8), canonical encodings. */
const SMALL_ORDER_U = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

describe('length checks at every entry point', () => {
  const k32 = new Uint8Array(32);
  const cases: [string, () => unknown][] = [
    ['x25519PublicKey 31', () => x25519PublicKey(new Uint8Array(31))],
    ['diffieHellman private 33', () => diffieHellman(new Uint8Array(33), k32)],
    ['diffieHellman public 0', () => diffieHellman(k32, new Uint8Array(0))],
    ['xeddsaSign nonce 32', () => xeddsaSign(k32, new Uint8Array(1), new Uint8Array(32))],
    ['xeddsaVerify signature 63', () => xeddsaVerify(k32, new Uint8Array(1), new Uint8Array(63))],
    ['aeadEncrypt key 16', () => aeadEncrypt(new Uint8Array(16), new Uint8Array(24), new Uint8Array(1))],
    ['aeadEncrypt nonce 12', () => aeadEncrypt(k32, new Uint8Array(12), new Uint8Array(1))],
    ['aeadDecrypt ciphertext shorter than the tag', () => aeadDecrypt(k32, new Uint8Array(24), new Uint8Array(15))],
    ['x3dhKdf DH of 31 bytes', () => x3dhKdf([k32, k32, new Uint8Array(31)])],
    ['decodeBase64urlFixed 30 bytes for a key', () =>
      decodeBase64urlFixed('5E1oJrZnJBwJCvMT-m_KenMsXi3N7s8-1JHGangw', 32, 'key')],
    ['not bytes at all', () => x25519PublicKey('a string' as unknown as Uint8Array)],
  ];
  for (const [name, run] of cases) {
    test(name, () => assert.throws(run, InvalidLengthError));
  }
});

describe('small-order and non-canonical peer keys', () => {
  for (const u of SMALL_ORDER_U) {
    test(`DH with u = ${u.slice(0, 8)}... is refused`, () => {
      assert.throws(() => diffieHellman(generateKeyPair().privateKey, hex(u)), SmallOrderKeyError);
    });
  }

  test('an initial message with a small-order ephemeral key is refused before decryption', () => {
    const bob = generateKeyPair();
    const spk = generateKeyPair();
    const { message } = createInitialMessage(generateKeyPair(), {
      identityKey: bob.publicKey, signedPreKey: spk.publicKey,
      signedPreKeySignature: xeddsaSign(bob.privateKey, spk.publicKey),
    }, new Uint8Array(4));
    const keys = { identity: bob, signedPreKey: spk.privateKey };
    assert.throws(() => openInitialMessage(keys, { ...message, ephemeralKey: hex(SMALL_ORDER_U[1]!) }), SmallOrderKeyError);
  });

  test('a key to publish (identity, prekey) is refused when of small order in any encoding, or not canonical', () => {
    const smallOrder = [...SMALL_ORDER_U, 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'];
    for (const u of smallOrder) {
      const key = hex(u);
      assert.match(publishedKeyProblem(key) ?? '', /small order/, u);
      key[31]! |= 0x80;
      assert.match(publishedKeyProblem(key) ?? '', /small order/, `${u} with bit 255 set`);
    }
    const highBit = generateKeyPair().publicKey;
    highBit[31]! |= 0x80;
    assert.match(publishedKeyProblem(highBit) ?? '', /bit 255/);
    assert.match(publishedKeyProblem(hex('efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')) ?? '', /not reduced mod p/);
    for (let i = 0; i < 50; i++) assert.equal(publishedKeyProblem(generateKeyPair().publicKey), null);
  });

  test('an X25519 key with bit 255 set is refused (one key, one encoding)', () => {
    const peer = generateKeyPair().publicKey;
    const flipped = Uint8Array.from(peer);
    flipped[31]! |= 0x80;
    assert.throws(() => diffieHellman(generateKeyPair().privateKey, flipped), InvalidKeyError);
  });

  test('an X25519 key u >= p is refused', () => {
    const uIsPPlus2 = hex('efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
    assert.throws(() => diffieHellman(generateKeyPair().privateKey, uIsPPlus2), InvalidKeyError);
  });

  test('a bundle whose signed prekey has small order is refused even with a valid signature', () => {
    const bob = generateKeyPair();
    const bad = hex(SMALL_ORDER_U[2]!);
    const bundle = { identityKey: bob.publicKey, signedPreKey: bad, signedPreKeySignature: xeddsaSign(bob.privateKey, bad) };
    assert.throws(() => createInitialMessage(generateKeyPair(), bundle, new Uint8Array(1)), SmallOrderKeyError);
  });
});

describe('errors carry no secrets', () => {
  test('no key, plaintext or shared key appears in any error message', () => {
    const secret = generateKeyPair();
    const plaintext = new TextEncoder().encode('top secret plaintext');
    const key = new Uint8Array(32).fill(7);
    const ciphertext = aeadEncrypt(key, new Uint8Array(24), plaintext);
    const tampered = Uint8Array.from(ciphertext);
    tampered[0]! ^= 1;
    const failures: unknown[] = [];
    const capture = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        failures.push(error);
      }
    };
    capture(() => aeadDecrypt(key, new Uint8Array(24), tampered));
    capture(() => diffieHellman(secret.privateKey, new Uint8Array(32)));
    capture(() => diffieHellman(secret.privateKey, new Uint8Array(31)));
    capture(() => xeddsaSign(secret.privateKey, plaintext, new Uint8Array(3)));
    capture(() => decodeBase64urlFixed(encodeBase64url(secret.privateKey) + '=', 32, 'private key'));
    assert.equal(failures.length, 5);
    const forbidden = [secret.privateKey, key, plaintext].flatMap((b) => [toHex(b), encodeBase64url(b), Buffer.from(b).toString('base64')]);
    forbidden.push('top secret');
    for (const error of failures) {
      assert.ok(error instanceof ProtocolError, `typed: ${String(error)}`);
      const text = `${error.message} ${error.stack ?? ''} ${JSON.stringify(error)}`;
      for (const needle of forbidden) assert.ok(!text.includes(needle), `${error.code} leaks a secret`);
    }
  });
});

describe('v1 schemas refuse bad input with a readable error', () => {
  const key = encodeBase64url(new Uint8Array(32).fill(1));
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{"username": ', /not valid UTF-8 JSON/],
    ['missing key', { username: 'bob' }, /ik_b64/],
    ['username with a topic character', { username: 'a/b', ik_b64: key }, /username: must not contain/],
    ['username with a wildcard', { username: 'a+', ik_b64: key }, /username/],
    ['empty username', { username: '', ik_b64: key }, /username: must not be empty/],
    ['overlong username', { username: 'x'.repeat(65), ik_b64: key }, /username: must be at most 64/],
    ['key of 31 bytes', { username: 'bob', ik_b64: encodeBase64url(new Uint8Array(31)) }, /ik_b64: key must be 32 bytes, got 31/],
    ['padded base64', { username: 'bob', ik_b64: `${key}=` }, /ik_b64: .*base64url/],
    ['number instead of string', { username: 'bob', ik_b64: 5 }, /ik_b64/],
  ];
  for (const [name, input, pattern] of cases) {
    test(name, () => {
      const parsed = wireV1.parseV1(wireV1.registerIdentityRequest, typeof input === 'string' ? input : JSON.stringify(input));
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.error, pattern);
    });
  }

  test('invalid UTF-8 bytes', () => {
    const parsed = wireV1.parseV1(wireV1.registerIdentityRequest, Uint8Array.of(0x7b, 0xff, 0x7d));
    assert.deepEqual(parsed, { ok: false, error: 'payload is not valid UTF-8 JSON' });
  });

  test('duplicate one-time prekey ids in a bundle upload', () => {
    const sig = encodeBase64url(new Uint8Array(64));
    const parsed = wireV1.parseV1(wireV1.registerBundleRequest, JSON.stringify({
      username: 'bob', spk_b64: key, spk_sig_b64: sig, opks_b64: [{ id: 1, key }, { id: 1, key }],
    }));
    assert.equal(parsed.ok, false);
  });
});
