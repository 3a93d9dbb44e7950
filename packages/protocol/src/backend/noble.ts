import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { concatBytes, constantTimeEqual } from '../bytes.js';
import type { CryptoBackend } from './crypto_backend.js';
import { bigintScalarOps, bytesToScalarLE, isSmallOrderEncoding, L } from './scalar.js';

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
  ed25519BaseNoclamp(scalar) {
    const reduced = Fn.create(bytesToScalarLE(scalar)); // B has order L
    return reduced === 0n ? Point.ZERO.toBytes() : Point.BASE.multiply(reduced).toBytes();
  },
  sha512: (...parts) => sha512(parts.length === 1 ? parts[0]! : concatBytes(...parts)),
  ...bigintScalarOps,
  ed25519Verify: verifyLikeLibsodium,
  hkdfSha512: (ikm, salt, info, length) => hkdf(sha512, ikm, salt, info, length),
  xchachaEncrypt: (key, nonce, plaintext, ad) => xchacha20poly1305(key, nonce, ad).encrypt(plaintext),
  xchachaDecrypt(key, nonce, ciphertext, ad) {
    try {
      return xchacha20poly1305(key, nonce, ad).decrypt(ciphertext);
    } catch {
      return null;
    }
  },
};
