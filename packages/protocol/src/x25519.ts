import { backend } from '#crypto-backend';
import { checkLength } from './bytes.js';
import { InvalidKeyError, SmallOrderKeyError } from './errors.js';
import { X25519_KEY_BYTES } from './sizes.js';

export interface KeyPair {
  /** 32 bytes, u-coordinate. */
  publicKey: Uint8Array;
  /** 32 random bytes, stored unclamped as the firmware stores them; X25519 clamps on use. */
  privateKey: Uint8Array;
}

export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  return backend.x25519Base(checkLength('X25519 private key', privateKey, X25519_KEY_BYTES));
}

export function generateKeyPair(): KeyPair {
  const privateKey = backend.randomBytes(X25519_KEY_BYTES);
  return { privateKey, publicKey: backend.x25519Base(privateKey) };
}

export function keyPairFromPrivateKey(privateKey: Uint8Array): KeyPair {
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

/**
 * X25519 ignores bit 255 and reduces u mod p, so 2^255 encodings map onto fewer keys. Honest
 * parties (the firmware included) only emit canonical u < p with bit 255 clear; refusing the rest
 * means one key has one encoding, which replay detection and identity comparison rely on.
 */
export function checkCanonicalPublicKey(publicKey: Uint8Array, what: string): void {
  if ((publicKey[31]! & 0x80) !== 0) throw new InvalidKeyError(what, 'bit 255 of the X25519 public key is set');
  // u >= p = 2^255 - 19 means bytes 1..30 are 0xff, byte 31 is 0x7f and byte 0 >= 0xed.
  if (publicKey[31] === 0x7f && publicKey[0]! >= 0xed && publicKey.subarray(1, 31).every((b) => b === 0xff)) {
    throw new InvalidKeyError(what, 'X25519 public key is not reduced mod p');
  }
}

/**
 * X25519 shared secret. An all-zero output means the peer key has small order and contributes
 * nothing secret; it is refused (X3DH section 4.1 / RFC 7748 section 6.1).
 */
export function diffieHellman(privateKey: Uint8Array, publicKey: Uint8Array, what = 'X25519'): Uint8Array {
  checkLength(`${what} private key`, privateKey, X25519_KEY_BYTES);
  checkLength(`${what} public key`, publicKey, X25519_KEY_BYTES);
  checkCanonicalPublicKey(publicKey, `${what} public key`);
  const shared = backend.x25519(privateKey, publicKey);
  if (shared === null) throw new SmallOrderKeyError(what);
  return shared;
}
