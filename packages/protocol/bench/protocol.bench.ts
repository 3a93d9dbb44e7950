/**
 * Operations per second of the protocol core on the active backend (X3DH_CRYPTO_BACKEND selects
 * it), and how close initiate and respond come to the rate implied by their primitives alone.
 * Usage: npm run bench [-- --seconds 1]
 */
import { parseArgs } from 'node:util';
import {
  activeBackend as backend, aeadDecrypt, aeadEncrypt, createInitialMessage, generateKeyPair, montgomeryToEdwards,
  openInitialMessage, xeddsaSign, xeddsaVerify, type KeyPair, type PreKeyBundle,
} from '../src/index.js';
import { report as measureAndPrint } from './measure.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  console.log('usage: npm run bench -- [--seconds S]   (X3DH_CRYPTO_BACKEND=noble for the pure-TypeScript backend)');
  process.exit(0);
}
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error('--seconds must be a positive number');

const report = (name: string, op: () => unknown): number => measureAndPrint(name, op, seconds);

function responder(): { identity: KeyPair; spk: KeyPair; opk: KeyPair; bundle: PreKeyBundle } {
  const identity = generateKeyPair();
  const spk = generateKeyPair();
  const opk = generateKeyPair();
  return {
    identity, spk, opk,
    bundle: {
      identityKey: identity.publicKey, signedPreKey: spk.publicKey,
      signedPreKeySignature: xeddsaSign(identity.privateKey, spk.publicKey),
      oneTimePreKey: { id: 1, publicKey: opk.publicKey },
    },
  };
}

console.log(`backend: ${backend.name}, node ${process.version}, ${seconds} s per figure\n`);
const alice = generateKeyPair();
// Many distinct responders, so that nothing per key is measured warm that would be cold in use.
const bobs = Array.from({ length: 64 }, responder);
const pick = <T>(list: T[], i: number): T => list[i % list.length]!;
const message64 = new Uint8Array(64).fill(0x61);
const message4k = new Uint8Array(4096).fill(0x61);
const key = backend.randomBytes(32);
const nonce = backend.randomBytes(24);
const ad = backend.randomBytes(64);
const sealed64 = aeadEncrypt(key, nonce, message64, ad);
const sealed4k = aeadEncrypt(key, nonce, message4k, ad);
const edKeys = bobs.map((b) => montgomeryToEdwards(b.identity.publicKey));

console.log('primitives (backend calls, inputs prepared in advance)');
let n = 0;
const pRawVerify = report('Ed25519 verify (libsodium strict)', () => {
  const b = pick(bobs, n);
  return backend.ed25519Verify(b.bundle.signedPreKeySignature, b.bundle.signedPreKey, pick(edKeys, n++));
});
const pKeygen = report('X25519 key generation', () => backend.x25519Base(backend.randomBytes(32)));
const pDh = report('X25519 shared secret', () => backend.x25519(alice.privateKey, pick(bobs, n++).spk.publicKey));
const pKdf = report('HKDF-SHA-512 (160-byte IKM)', () =>
  backend.hkdfSha512(message4k.subarray(0, 160), new Uint8Array(64), message64.subarray(0, 10), 32));
const pSeal64 = report('XChaCha20-Poly1305 seal 64 B', () => backend.xchachaEncrypt(key, nonce, message64, ad));
const pOpen64 = report('XChaCha20-Poly1305 open 64 B', () => backend.xchachaDecrypt(key, nonce, sealed64, ad));

console.log('\nprotocol operations (public API: length checks, encodings, conversions included)');
report('XEdDSA sign (32-byte message)', () => xeddsaSign(pick(bobs, n++).identity.privateKey, message64.subarray(0, 32)));
report('XEdDSA verify (32-byte message)', () => {
  const b = pick(bobs, n++);
  return xeddsaVerify(b.identity.publicKey, b.bundle.signedPreKey, b.bundle.signedPreKeySignature);
});
const initiate = report('X3DH initiate + 64 B first message', () =>
  createInitialMessage(alice, pick(bobs, n++).bundle, message64));
const messages = bobs.map((b) => ({ b, m: createInitialMessage(alice, b.bundle, message64).message }));
const respond = report('X3DH respond + open first message', () => {
  const { b, m } = pick(messages, n++);
  return openInitialMessage({ identity: b.identity, signedPreKey: b.spk.privateKey, oneTimePreKey: b.opk.privateKey }, m);
});
report('AEAD seal 64 B', () => aeadEncrypt(key, nonce, message64, ad));
report('AEAD open 64 B', () => aeadDecrypt(key, nonce, sealed64, ad));
report('AEAD seal 4 KiB', () => aeadEncrypt(key, nonce, message4k, ad));
report('AEAD open 4 KiB', () => aeadDecrypt(key, nonce, sealed4k, ad));

const initiateFloor = pRawVerify + pKeygen + 4 * pDh + pKdf + pSeal64;
const respondFloor = 4 * pDh + pKdf + pOpen64;
console.log('\nprimitive-sum ratio (rate achieved / rate implied by the sum of the primitives; target >= 80%)');
for (const [name, actual, floor] of [['initiate', initiate, initiateFloor], ['respond', respond, respondFloor]] as const) {
  console.log(`${name.padEnd(9)} ${Math.round(1e6 / actual)} ops/s vs ${Math.round(1e6 / floor)} ops/s implied: ${(100 * floor / actual).toFixed(1)}%`);
}
