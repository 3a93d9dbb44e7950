/**
 * Double Ratchet messages per second on the active backend (X3DH_CRYPTO_BACKEND selects it), next
 * to the rate implied by the primitives each operation is made of. Sessions are immutable, so each
 * figure repeats one operation on the same session and message: every call does the full work
 * (a receive from a new chain does the whole DH ratchet step each time).
 * Each figure is the fastest of `--rounds` rounds sharing `--seconds`.
 * Usage: npm run bench:ratchet [-- --seconds 1 --rounds 5]
 */
import { parseArgs } from 'node:util';
import {
  activeBackend as backend, generateKeyPair, ratchetDecrypt, ratchetEncrypt, utf8, wireV2,
} from '../src/index.js';
import { report as measureAndPrint } from './measure.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' }, rounds: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
const report = (name: string, op: () => unknown): number => measureAndPrint(name, op, seconds, rounds);

console.log(`backend: ${backend.name}, node ${process.version}, ${seconds} s per figure, fastest of ${rounds} rounds\n`);
const plaintext = new Uint8Array(64).fill(0x61);

// Alice and Bob after the handshake; Bob has answered once, so both have both chains.
const alice = generateKeyPair();
const bob = { identity: generateKeyPair(), spk: generateKeyPair() };
const sealed = wireV2.sealRatchetInitialEnvelope(alice, {
  device: 'bob', identityKey: bob.identity.publicKey, signedPreKey: bob.spk.publicKey, signedPreKeyId: 1,
  signedPreKeySignature: wireV2.signSignedPreKey(bob.identity.privateKey, 'bob', 1, bob.spk.publicKey),
}, utf8.encode('hello'));
const opened = wireV2.openRatchetInitialEnvelope({ identity: bob.identity, signedPreKey: bob.spk.privateKey }, sealed.envelope);
const reply = ratchetEncrypt(opened.session, plaintext);
const alicePlain = ratchetDecrypt(sealed.session, reply.message).session;
const bobPlain = reply.session;
// Alice's next message is on her new chain: for Bob, a DH ratchet step. Her message after it is on the same chain.
const newChain = ratchetEncrypt(alicePlain, plaintext);
const sameChain = ratchetEncrypt(newChain.session, plaintext);
const bobOnChain = ratchetDecrypt(bobPlain, newChain.message).session;

console.log('primitives (backend calls, inputs prepared in advance)');
const key = backend.randomBytes(32);
const nonce = backend.randomBytes(24);
const ad = backend.randomBytes(104);
const sealed64 = backend.xchachaEncrypt(key, nonce, plaintext, ad);
const peer = generateKeyPair();
const pHmac = report('HMAC-SHA-512 (1-byte message)', () => backend.hmacSha512(key, Uint8Array.of(1)));
const pHkdf56 = report('HKDF-SHA-512, 56 bytes', () => backend.hkdfSha512(key, new Uint8Array(64), ad.subarray(0, 27), 56));
const pHkdf64 = report('HKDF-SHA-512, 64 bytes', () => backend.hkdfSha512(key, key, ad.subarray(0, 24), 64));
const pSeal = report('XChaCha20-Poly1305 seal 64 B', () => backend.xchachaEncrypt(key, nonce, plaintext, ad));
const pOpen = report('XChaCha20-Poly1305 open 64 B', () => backend.xchachaDecrypt(key, nonce, sealed64, ad));
const pDh = report('X25519 shared secret', () => backend.x25519(alice.privateKey, peer.publicKey));
const pKeygen = report('X25519 key generation', () => backend.x25519Base(backend.randomBytes(32)));

console.log('\nratchet (public API: header checks, AD, copies included; 64 B plaintext)');
const encrypt = report('encrypt', () => ratchetEncrypt(sameChain.session, plaintext));
const decrypt = report('decrypt, same chain', () => ratchetDecrypt(bobOnChain, sameChain.message));
const decryptStep = report('decrypt with a DH ratchet step', () => ratchetDecrypt(bobPlain, newChain.message));

// KDF_CK is two HMACs, MESSAGE_KEYS one HKDF of 56 bytes; a DH step adds 2 DH, a key pair and 2 KDF_RK.
const chainFloor = 2 * pHmac + pHkdf56;
const stepCost = 2 * pDh + pKeygen + 2 * pHkdf64;
const rows: [string, number, number][] = [
  ['encrypt', encrypt, chainFloor + pSeal],
  ['decrypt, same chain', decrypt, chainFloor + pOpen],
  ['decrypt, DH step', decryptStep, chainFloor + pOpen + stepCost],
];
console.log('\nprimitive-sum ratio (rate achieved / rate implied by the sum of the primitives)');
for (const [name, actual, floor] of rows) {
  console.log(`${name.padEnd(20)} ${Math.round(1e6 / actual).toString().padStart(7)} msg/s vs ${Math.round(1e6 / floor).toString().padStart(7)} msg/s implied: ${(100 * floor / actual).toFixed(1)}%`);
}
