// Two parties agree on a session with X3DH and talk over the Double Ratchet, with no server: Bob's
// bundle and every envelope are handed over directly. A device does the same through the key server.
import {
  encodeRatchetSession, decodeRatchetSession, generateKeyPair, ratchetDecrypt, ratchetEncrypt, utf8, wireV2,
} from '@x3dh-iot/protocol';

// Bob publishes an identity key, a signed prekey (id 1) and a one-time prekey (id 7).
const bob = { identity: generateKeyPair(), signedPreKey: generateKeyPair(), oneTimePreKey: generateKeyPair() };
const bundle = {
  device: 'bob',
  identityKey: bob.identity.publicKey,
  signedPreKey: bob.signedPreKey.publicKey,
  // The signature covers Bob's name and the prekey id too, so nobody can relabel the key.
  signedPreKeySignature: wireV2.signSignedPreKey(bob.identity.privateKey, 'bob', 1, bob.signedPreKey.publicKey),
  signedPreKeyId: 1,
  oneTimePreKey: { id: 7, publicKey: bob.oneTimePreKey.publicKey },
};

// Alice checks the signature, runs X3DH and seals her first message (it throws on a bad signature).
const alice = { identity: generateKeyPair() };
const initial = wireV2.sealRatchetInitialEnvelope(alice.identity, bundle, utf8.encode('hello Bob'));
let aliceSession = initial.session;
const wire = wireV2.encodeRatchetInitialEnvelope(initial.envelope); // the x3dh.initial envelope's bytes

// Bob decodes it, looks up the prekeys it names and opens it; nothing is created if it fails.
const decoded = wireV2.decodeAnyInitialEnvelope(wire);
if (!decoded.ok || decoded.value.form !== 'ratchet') throw new Error('not a ratchet handshake');
const opened = wireV2.openRatchetInitialEnvelope(
  { identity: bob.identity, signedPreKey: bob.signedPreKey.privateKey, oneTimePreKey: bob.oneTimePreKey.privateKey },
  decoded.value.envelope,
);
let bobSession = opened.session;
console.log(`Bob read: ${new TextDecoder().decode(opened.plaintext)}`);

// Bob answers; every message gets a key of its own, and each reply moves the DH ratchet on.
const reply = ratchetEncrypt(bobSession, utf8.encode('hi Alice'));
bobSession = reply.session; // store it before the message leaves
const answered = ratchetDecrypt(aliceSession, reply.message);
aliceSession = answered.session; // store it before using the plaintext
console.log(`Alice read: ${new TextDecoder().decode(answered.plaintext)}`);

// Sessions are stored as bytes (274 bytes here, plus 38 per skipped message key).
const stored = encodeRatchetSession(aliceSession);
aliceSession = decodeRatchetSession(stored);
console.log(`Alice's session: ${stored.length} bytes`);

// Both sides show the same safety number to compare out of band.
const number = wireV2.safetyNumber({ name: 'alice', identityKey: alice.identity.publicKey }, { name: 'bob', identityKey: bob.identity.publicKey });
console.log(`Safety number: ${wireV2.formatSafetyNumber(number)}`);
