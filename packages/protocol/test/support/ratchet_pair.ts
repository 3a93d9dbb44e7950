import assert from 'node:assert/strict';
import {
  encodeRatchetSession, generateKeyPair, ratchetDecrypt, ratchetEncrypt, utf8, wireV2,
  type KeyPair, type RatchetMessage, type RatchetSession,
} from '../../src/index.js';

/** A responder's keys and the bundle the server would hand out for them. */
export function makeResponder(withOneTimePreKey = true) {
  const identity = generateKeyPair();
  const signedPreKey = generateKeyPair();
  const oneTimePreKey = generateKeyPair();
  return {
    identity,
    keys: { identity, signedPreKey: signedPreKey.privateKey, oneTimePreKey: withOneTimePreKey ? oneTimePreKey.privateKey : undefined },
    bundle: {
      device: 'bob', identityKey: identity.publicKey, signedPreKey: signedPreKey.publicKey, signedPreKeyId: 7,
      signedPreKeySignature: wireV2.signSignedPreKey(identity.privateKey, 'bob', 7, signedPreKey.publicKey),
      oneTimePreKey: withOneTimePreKey ? { id: 101, publicKey: oneTimePreKey.publicKey } : undefined,
    },
  };
}

/** Alice and Bob right after the handshake, the first message delivered. */
export function startedPair(): { alice: KeyPair; a: RatchetSession; b: RatchetSession } {
  const alice = generateKeyPair();
  const bob = makeResponder();
  const sealed = wireV2.sealRatchetInitialEnvelope(alice, bob.bundle, utf8.encode('hello'));
  const opened = wireV2.openRatchetInitialEnvelope(bob.keys, sealed.envelope);
  assert.equal(utf8.decode(opened.plaintext), 'hello');
  return { alice, a: sealed.session, b: opened.session };
}

export function send(session: RatchetSession, text: string): { session: RatchetSession; message: RatchetMessage } {
  return ratchetEncrypt(session, utf8.encode(text));
}

export function receive(session: RatchetSession, message: RatchetMessage): { session: RatchetSession; text: string } {
  const opened = ratchetDecrypt(session, message);
  return { session: opened.session, text: utf8.decode(opened.plaintext) };
}

/** Asserts that `run` refuses with `code` and leaves `session` byte for byte as it was. */
export function assertRefused(session: RatchetSession, code: string, run: () => unknown): void {
  const before = encodeRatchetSession(session);
  assert.throws(run, (error: unknown) => (error as { code?: string }).code === code);
  assert.deepEqual(encodeRatchetSession(session), before, 'a refusal leaves the state unchanged');
}
