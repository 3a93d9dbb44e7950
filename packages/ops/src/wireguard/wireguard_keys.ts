import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';

/** DER prefixes that wrap a raw 32-byte X25519 key as PKCS#8 and SubjectPublicKeyInfo. */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX_LENGTH = 12;

export interface WireGuardKeyPair {
  privateKey: string;
  publicKey: string;
}

/** Clamps a scalar the way `wg genkey` does, so the stored key is already a valid X25519 key. */
export function clampPrivateKey(raw: Uint8Array): Buffer {
  if (raw.length !== 32) throw new Error('a WireGuard private key is 32 bytes');
  const key = Buffer.from(raw);
  key[0] = key[0]! & 248;
  key[31] = (key[31]! & 127) | 64;
  return key;
}

function decodeKey(base64: string): Buffer {
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== base64) throw new Error('not a base64 WireGuard key');
  return raw;
}

/** Same as `wg pubkey`. */
export function wireGuardPublicKey(privateKey: string): string {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, decodeKey(privateKey)]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return spki.subarray(SPKI_X25519_PREFIX_LENGTH).toString('base64');
}

/** Same as `wg genkey | tee private | wg pubkey`. */
export function generateWireGuardKeyPair(): WireGuardKeyPair {
  const privateKey = clampPrivateKey(randomBytes(32)).toString('base64');
  return { privateKey, publicKey: wireGuardPublicKey(privateKey) };
}
