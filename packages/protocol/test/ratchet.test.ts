import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  asChainKey, asRootKey, decodeRatchetSession, encodeRatchetSession, EncodingError, generateKeyPair, InvalidMessageError,
  kdfChain, kdfRoot, MAX_SKIPPED, ratchetDecrypt, ratchetEncrypt, RatchetError, startInitiatorRatchet, utf8, wireV2,
  type RatchetMessage, type RatchetPublicKey, type RatchetSession,
} from '../src/index.js';
import { assertRefused, makeResponder, receive, send, startedPair } from './support/ratchet_pair.js';

describe('ratchet handshake through x3dh.initial', () => {
  test('the first message travels in the envelope with dh, pn, n and no nonce, and both sides then talk', () => {
    const alice = generateKeyPair();
    const bob = makeResponder(false);
    const sealed = wireV2.sealRatchetInitialEnvelope(alice, bob.bundle, utf8.encode('hi'));
    const bytes = wireV2.encodeRatchetInitialEnvelope(sealed.envelope);
    assert.deepEqual(Object.keys(JSON.parse(utf8.decode(bytes))), ['ik', 'ek', 'spk_id', 'opk_id', 'dh', 'pn', 'n', 'ciphertext']);
    assert.equal(JSON.parse(utf8.decode(bytes)).opk_id, -1);
    const decoded = wireV2.decodeAnyInitialEnvelope(bytes);
    assert.ok(decoded.ok && decoded.value.form === 'ratchet');
    const opened = wireV2.openRatchetInitialEnvelope(bob.keys, decoded.value.envelope);
    assert.equal(utf8.decode(opened.plaintext), 'hi');

    let a = sealed.session;
    let b = opened.session;
    const second = send(a, 'second, same chain');
    a = second.session;
    assert.equal(second.message.header.n, 1);
    const reply = send(b, 'reply');
    b = reply.session;
    ({ session: b } = receive(b, second.message));
    const onWire = wireV2.decodeSessionEnvelope(wireV2.encodeRatchetSessionEnvelope(reply.message));
    assert.ok(onWire.ok && onWire.value.version === 2);
    const got = receive(a, onWire.value.message);
    assert.equal(got.text, 'reply');
  });

  test('a tampered first message creates no session, and the untampered one still opens', () => {
    const bob = makeResponder();
    const sealed = wireV2.sealRatchetInitialEnvelope(generateKeyPair(), bob.bundle, utf8.encode('first'));
    const tampered = { ...sealed.envelope, signedPreKeyId: 8 };
    assert.throws(() => wireV2.openRatchetInitialEnvelope(bob.keys, tampered), (e: unknown) => e instanceof RatchetError && e.code === 'DECRYPTION_FAILED');
    assert.equal(utf8.decode(wireV2.openRatchetInitialEnvelope(bob.keys, sealed.envelope).plaintext), 'first');
  });

  test('the envelopes of sessions before the ratchet still decode and open', () => {
    const alice = generateKeyPair();
    const bob = makeResponder();
    const legacy = wireV2.sealInitialEnvelope(alice, bob.bundle, utf8.encode('old'));
    const decoded = wireV2.decodeAnyInitialEnvelope(wireV2.encodeInitialEnvelope(legacy.envelope));
    assert.ok(decoded.ok && decoded.value.form === 'legacy');
    const opened = wireV2.openInitialEnvelope(bob.keys, decoded.value.envelope);
    assert.equal(utf8.decode(opened.plaintext), 'old');
    const v1 = wireV2.sealSessionEnvelope(legacy.sharedKey, alice.publicKey, bob.identity.publicKey, 3, utf8.encode('v1'));
    const session = wireV2.decodeSessionEnvelope(v1);
    assert.ok(session.ok && session.value.version === 1 && session.value.n === 3);
    assert.equal(utf8.decode(wireV2.openSessionEnvelope(legacy.sharedKey, alice.publicKey, bob.identity.publicKey, v1).plaintext), 'v1');
  });

  test('malformed envelopes are refused with a readable error', () => {
    const bad = (json: unknown) => wireV2.decodeSessionEnvelope(utf8.encode(JSON.stringify(json)));
    const dh = 'A'.repeat(43);
    const ciphertext = 'A'.repeat(22);
    assert.equal(bad({ v: 2, dh, pn: 0, n: 0, ciphertext }).ok, true);
    assert.equal(bad({ v: 3, dh, pn: 0, n: 0, ciphertext }).ok, false);
    assert.equal(bad({ v: 2, dh, pn: 0, n: 2 ** 32, ciphertext }).ok, false);
    assert.equal(bad({ v: 2, dh, pn: -1, n: 0, ciphertext }).ok, false);
    assert.equal(bad({ v: 2, dh, pn: 0, n: 0, ciphertext, nonce: 'A'.repeat(32) }).ok, false);
    assert.equal(bad({ v: 2, dh: 'A'.repeat(42), pn: 0, n: 0, ciphertext }).ok, false);
  });
});

describe('ratchet refusals leave the state unchanged', () => {
  const withHeader = (message: RatchetMessage, header: Partial<RatchetMessage['header']>): RatchetMessage =>
    ({ ...message, header: { ...message.header, ...header } });

  test('BAD_HEADER, INVALID_KEY and SMALL_ORDER_KEY', () => {
    const { a, b } = startedPair();
    const { message } = send(a, 'x');
    const key = (bytes: number[]) => Uint8Array.from({ length: 32 }, (_, i) => bytes[i] ?? 0) as RatchetPublicKey;
    assertRefused(b, 'BAD_HEADER', () => ratchetDecrypt(b, withHeader(message, { dh: new Uint8Array(31) as RatchetPublicKey })));
    assertRefused(b, 'BAD_HEADER', () => ratchetDecrypt(b, withHeader(message, { n: -1 })));
    assertRefused(b, 'BAD_HEADER', () => ratchetDecrypt(b, withHeader(message, { pn: 2 ** 32 })));
    assertRefused(b, 'BAD_HEADER', () => ratchetDecrypt(b, withHeader(message, { n: 1.5 })));
    const highBit = Uint8Array.from(message.header.dh);
    highBit[31]! |= 0x80;
    assertRefused(b, 'INVALID_KEY', () => ratchetDecrypt(b, withHeader(message, { dh: highBit as RatchetPublicKey })));
    assertRefused(b, 'SMALL_ORDER_KEY', () => ratchetDecrypt(b, withHeader(message, { dh: key([1]) })));
    assertRefused(b, 'DECRYPTION_FAILED', () => ratchetDecrypt(b, { ...message, ciphertext: new Uint8Array(10) }));
    assert.equal(receive(b, message).text, 'x', 'the genuine message still opens');
  });

  test('the responder cannot send before the first message, and neither call changes its input', () => {
    const bob = makeResponder();
    const sealed = wireV2.sealRatchetInitialEnvelope(generateKeyPair(), bob.bundle, utf8.encode('1'));
    const opened = wireV2.openRatchetInitialEnvelope(bob.keys, sealed.envelope);
    const fresh = { ...opened.session, sendingChainKey: null, receivingKey: null, receivingChainKey: null };
    assert.throws(() => ratchetEncrypt(fresh, utf8.encode('too early')), InvalidMessageError);
    const before = encodeRatchetSession(sealed.session);
    const next = send(sealed.session, 'two');
    assert.deepEqual(encodeRatchetSession(sealed.session), before, 'encrypt returns a new session');
    const bBefore = encodeRatchetSession(opened.session);
    receive(opened.session, next.message);
    assert.deepEqual(encodeRatchetSession(opened.session), bBefore, 'decrypt returns a new session');
  });

  test('at most MAX_SKIPPED keys are stored and the oldest go first; a message whose key went is refused', () => {
    let { a, b } = startedPair();
    const messages: RatchetMessage[] = [];
    for (let i = 0; i < 520; i++) {
      const sent = send(a, `m${i + 1}`);
      a = sent.session;
      messages.push(sent.message);
    }
    // Message n is messages[n - 1]: the first message (n = 0) went through x3dh.initial.
    const sizes = [256, 512, 514, 516].map((n) => {
      b = receive(b, messages[n - 1]!).session;
      return b.skipped.size;
    });
    assert.deepEqual(sizes, [255, 510, 511, 512]);
    b = receive(b, messages[518 - 1]!).session;
    assert.equal(b.skipped.size, MAX_SKIPPED);
    assert.equal(b.skipped.values().next().value!.n, 2, 'n = 1 was the oldest and was deleted');
    assertRefused(b, 'DUPLICATE', () => ratchetDecrypt(b, messages[0]!));
    b = receive(b, messages[520 - 1]!).session;
    assert.equal(b.skipped.size, MAX_SKIPPED);
    assertRefused(b, 'DUPLICATE', () => ratchetDecrypt(b, messages[1]!));
    assert.equal(receive(b, messages[2]!).text, 'm3');
  });
});

describe('ratchet session codec', () => {
  const sessionWithSkipped = (count: number): RatchetSession => {
    let { a, b } = startedPair();
    const messages: RatchetMessage[] = [];
    // Two chains of Alice's, so that skipped keys of several chains are stored.
    for (let chain = 0; chain < 2; chain++) {
      const half = chain === 0 ? Math.min(count, 256) : count - Math.min(count, 256);
      for (let i = 0; i <= half; i++) {
        const sent = send(a, 'x');
        a = sent.session;
        messages.push(sent.message);
      }
      b = receive(b, messages.at(-1)!).session;
      const reply = send(b, 'turn');
      b = reply.session;
      a = receive(a, reply.message).session;
    }
    return b;
  };

  test('round trip, and the ESP32 budget: at most 2 KB plus 40 bytes per stored skipped key', () => {
    for (const count of [0, 1, 256, 500]) {
      const session = sessionWithSkipped(count);
      assert.equal(session.skipped.size, count);
      const bytes = encodeRatchetSession(session);
      assert.deepEqual(decodeRatchetSession(bytes), session);
      assert.ok(bytes.length <= 2048 + 40 * session.skipped.size, `${bytes.length} bytes for ${session.skipped.size} skipped keys`);
    }
    const { a } = startedPair();
    assert.ok(encodeRatchetSession(a).length <= 300, 'a session without skipped keys fits in 300 bytes');
  });

  test('decoding is strict', () => {
    const bytes = encodeRatchetSession(sessionWithSkipped(3));
    const refused = (mutated: Uint8Array) => assert.throws(() => decodeRatchetSession(mutated), EncodingError);
    refused(bytes.subarray(0, bytes.length - 1));
    refused(Uint8Array.of(...bytes, 0));
    refused(Uint8Array.of(2, ...bytes.subarray(1)));
    refused(Uint8Array.of(bytes[0]!, 0x08, ...bytes.subarray(2)));
    refused(Uint8Array.of(bytes[0]!, 0x04, ...bytes.subarray(2)));
    const badIndex = Uint8Array.from(bytes);
    badIndex[bytes.length - 38] = 0x7f; // the index of the last skipped key's chain
    refused(badIndex);
    const twice = Uint8Array.from(bytes);
    twice.set(bytes.subarray(bytes.length - 38), bytes.length - 76); // the last skipped key twice
    refused(twice);
    refused(new Uint8Array(0));
  });
});

describe('key types', () => {
  test('swapping keys of different kinds does not compile', () => {
    const root = asRootKey(new Uint8Array(32));
    const chain = asChainKey(new Uint8Array(32));
    const misuses = () => {
      // @ts-expect-error a chain key is not a root key
      kdfRoot(chain, new Uint8Array(32));
      // @ts-expect-error a root key is not a chain key
      kdfChain(root);
      // @ts-expect-error a root key is not a shared key
      startInitiatorRatchet({ sharedKey: root, initiatorIdentityKey: root, responderIdentityKey: root, responderSignedPreKey: root });
    };
    assert.equal(typeof misuses, 'function', 'the type checker refuses each call above');
  });
});
