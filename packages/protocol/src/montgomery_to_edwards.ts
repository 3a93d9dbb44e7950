import { ed25519 } from '@noble/curves/ed25519.js';
import { checkLength } from './bytes.js';
import { bytesToScalarLE, scalarToBytesLE } from './backend/scalar.js';
import { X25519_KEY_BYTES } from './sizes.js';

const Fp = ed25519.Point.Fp;

/**
 * libxeddsa's curve25519_pub_to_ed25519_pub: y = (u - 1) / (u + 1) with bit 255 of u masked and u
 * reduced mod p, the inverse of 0 taken as 0, then the requested sign bit set. It never fails:
 * weak results (such as y = 0) are left for the verifier's small-order checks to refuse.
 */
export function montgomeryToEdwards(x25519PublicKey: Uint8Array, signBit: 0 | 1 = 0): Uint8Array {
  const bytes = checkLength('X25519 public key', x25519PublicKey, X25519_KEY_BYTES);
  const u = Fp.create(bytesToScalarLE(bytes) & ((1n << 255n) - 1n));
  const denominator = Fp.add(u, Fp.ONE);
  const inverse = Fp.is0(denominator) ? Fp.ZERO : Fp.inv(denominator);
  const out = scalarToBytesLE(Fp.mul(Fp.sub(u, Fp.ONE), inverse));
  out[31] = (out[31]! & 0x7f) | (signBit << 7);
  return out;
}
