import { backend } from '#crypto-backend';
import { fromHex, inBlocklist } from './backend/scalar.js';
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
  const problem = canonicalKeyProblem(publicKey);
  if (problem !== null) throw new InvalidKeyError(what, problem);
}

function canonicalKeyProblem(publicKey: Uint8Array): string | null {
  if ((publicKey[31]! & 0x80) !== 0) return 'bit 255 of the X25519 public key is set';
  // u >= p = 2^255 - 19 means bytes 1..30 are 0xff, byte 31 is 0x7f and byte 0 >= 0xed.
  if (publicKey[31] === 0x7f && publicKey[0]! >= 0xed && publicKey.subarray(1, 31).every((b) => b === 0xff)) {
    return 'X25519 public key is not reduced mod p';
  }
  return null;
}

/**
 * X25519 u-coordinates of points of order 1, 2, 4 and 8, and their encodings as u + p (bit 255
 * ignored), as libsodium's blocklist: Diffie-Hellman with any of them gives all zeros.
 */
const SMALL_ORDER_U: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(fromHex);

/** True for a public key of small order (in any encoding): Diffie-Hellman with it is all zeros. */
export function isSmallOrderPublicKey(publicKey: Uint8Array): boolean {
  return inBlocklist(checkLength('X25519 public key', publicKey, X25519_KEY_BYTES), SMALL_ORDER_U);
}

/**
 * Why a 32-byte X25519 public key cannot be published for others to agree keys with (an identity
 * or prekey upload), or null: it must be canonical (checkCanonicalPublicKey) and not of small order,
 * whose Diffie-Hellman output is all zeros for every private key.
 */
export function publishedKeyProblem(publicKey: Uint8Array): string | null {
  checkLength('X25519 public key', publicKey, X25519_KEY_BYTES);
  if (inBlocklist(publicKey, SMALL_ORDER_U)) return 'X25519 public key has small order (Diffie-Hellman with it is all zeros)';
  return canonicalKeyProblem(publicKey);
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
