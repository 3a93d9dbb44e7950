import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { concatBytes, constantTimeEqual } from '../bytes.js';
import type { CryptoBackend } from './crypto_backend.js';
import { bytesToScalarLE, isSmallOrderEncoding, L } from './scalar.js';
import { mulAdd, negate, reduceWide } from './scalar_mod_l.js';

const Point = ed25519.Point;
const Fn = Point.Fn;

/**
 * libsodium's crypto_sign_verify_detached (1.0.18 to 1.0.20) on @noble/curves point arithmetic.
 * noble's own verify is cofactored; the firmware's is cofactorless, and the two disagree on
 * signatures crafted with torsion components, so the checks are spelled out here in libsodium's order.
 */
function verifyLikeLibsodium(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  const r = signature.subarray(0, 32);
  const s = bytesToScalarLE(signature.subarray(32, 64));
  if (s >= L) return false;
  if (isSmallOrderEncoding(r)) return false;
  if (isSmallOrderEncoding(publicKey)) return false;
  let a;
  try {
    a = Point.fromBytes(publicKey, false); // strict: y >= p or a non-curve point is refused
  } catch {
    return false;
  }
  const h = Fn.create(bytesToScalarLE(sha512(concatBytes(r, publicKey, message))));
  const check = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(h));
  return constantTimeEqual(check.toBytes(), r);
}

/**
 * A reduced secret scalar (32 bytes) as the BigInt noble's point multiplication takes: read as four
 * 64-bit words, so the work is the same for every value down to V8's 64-bit BigInt digits (a
 * byte-by-byte conversion is faster by ~20 ns per leading zero byte, the nonce bias lattice attacks
 * need). A nonce below 2^192, probability 2^-60, would still be shorter by a digit.
 */
function secretScalarToBigint(scalar: Uint8Array): bigint {
  const view = new DataView(scalar.buffer, scalar.byteOffset, 32);
  return (view.getBigUint64(24, true) << 192n) | (view.getBigUint64(16, true) << 128n)
    | (view.getBigUint64(8, true) << 64n) | view.getBigUint64(0, true);
}

export const nobleBackend: CryptoBackend = {
  name: 'noble',
  randomBytes: (length) => randomBytes(length),
  x25519Base: (privateKey) => x25519.scalarMultBase(privateKey),
  x25519(privateKey, publicKey) {
    try {
      return x25519.scalarMult(privateKey, publicKey);
    } catch {
      return null; // noble refuses an all-zero result
    }
  },
  /**
   * What is constant time here and what is not. The scalar is reduced mod L (B has order L) in
   * fixed-width limbs (scalar_mod_l.ts). noble's multiply of B (@noble/curves 2.4) blinds the
   * scalar with a random multiple of L of at least 2^127 * L, so the BigInt it recodes into window
   * digits has the same length whatever the nonce, then adds one table point per window (a fake
   * accumulator takes the zero digits) after scanning the whole window: the same sequence of
   * operations for every scalar. Below that, its field elements are BigInts, whose arithmetic in V8
   * takes time that depends on their length in 64-bit digits; that is not constant time in the
   * sense of libsodium's fixed limbs, and noble says so of itself. npm run bench:timing measures the
   * whole signature on this backend against nonces with leading zero bytes.
   */
  ed25519BaseNoclamp(scalar) {
    const wide = new Uint8Array(64);
    wide.set(scalar);
    const reduced = secretScalarToBigint(reduceWide(wide));
    return reduced === 0n ? Point.ZERO.toBytes() : Point.BASE.multiply(reduced).toBytes();
  },
  sha512: (...parts) => sha512(parts.length === 1 ? parts[0]! : concatBytes(...parts)),
  scalarReduce: reduceWide,
  scalarNegate: negate,
  scalarMulAdd: mulAdd,
  ed25519Verify: verifyLikeLibsodium,
  hkdfSha512: (ikm, salt, info, length) => hkdf(sha512, ikm, salt, info, length),
  hmacSha512: (key, data) => hmac(sha512, key, data),
  xchachaEncrypt: (key, nonce, plaintext, ad) => xchacha20poly1305(key, nonce, ad).encrypt(plaintext),
  xchachaDecrypt(key, nonce, ciphertext, ad) {
    try {
      return xchacha20poly1305(key, nonce, ad).decrypt(ciphertext);
    } catch {
      return null;
    }
  },
};
