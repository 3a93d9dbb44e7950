import { backend } from '#crypto-backend';
import { select } from './backend/scalar_mod_l.js';
import { checkBytes, checkLength } from './bytes.js';
import { montgomeryToEdwards } from './montgomery_to_edwards.js';
import { SIGNATURE_BYTES, X25519_KEY_BYTES, XEDDSA_NONCE_BYTES } from './sizes.js';

/** hash_1 domain separation of XEdDSA: 0xFE followed by 31 bytes of 0xFF. */
const HASH1_PREFIX = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xfe : 0xff));

export interface XeddsaSigningKey {
  /** The scalar a hashed into the nonce and used for S, as libxeddsa 2.0.1 keeps it. */
  scalar: Uint8Array;
  /** Whether k*B had sign bit 1, so that a = -k mod L. */
  negated: boolean;
  /** Ed25519 public key a*B; its sign bit is always 0. */
  publicKey: Uint8Array;
}

function clamp(privateKey: Uint8Array): Uint8Array {
  const k = Uint8Array.from(privateKey);
  k[0]! &= 0xf8;
  k[31] = (k[31]! & 0x7f) | 0x40;
  return k;
}

/**
 * libxeddsa's priv_force_sign(sign_bit = 0). When k*B already has sign bit 0 the clamped scalar is
 * kept as it is, unreduced mod L (>= 2^254); the XEdDSA paper reduces it. Only the unreduced form
 * gives the firmware's signature bytes, because the scalar's bytes are hashed into the nonce.
 */
export function xeddsaSigningKey(x25519PrivateKey: Uint8Array): XeddsaSigningKey {
  const k = clamp(checkLength('XEdDSA private key', x25519PrivateKey, X25519_KEY_BYTES));
  const publicKey = backend.ed25519BaseNoclamp(k);
  const signBit = (publicKey[31]! >> 7) as 0 | 1;
  publicKey[31]! &= 0x7f; // -(k*B) differs from k*B only in the sign of x
  // Both candidates computed and one selected without a branch: the sign bit is not public.
  const scalar = select(signBit, backend.scalarNegate(k), k);
  return { scalar, negated: signBit === 1, publicKey };
}

/** r = SHA-512(hash_1 prefix || a || M || Z) mod L, the per-signature secret nonce. */
export function xeddsaNonceScalar(signingScalar: Uint8Array, message: Uint8Array, nonce: Uint8Array): Uint8Array {
  return backend.scalarReduce(backend.sha512(HASH1_PREFIX, signingScalar, message, nonce));
}

/** XEdDSA signature, byte-compatible with libxeddsa 2.0.1 for the same key, message and 64-byte Z. */
export function xeddsaSign(
  x25519PrivateKey: Uint8Array,
  message: Uint8Array,
  nonce: Uint8Array = backend.randomBytes(XEDDSA_NONCE_BYTES),
): Uint8Array {
  return xeddsaSignWith(xeddsaSigningKey(x25519PrivateKey), message, nonce);
}

/**
 * xeddsaSign with the signing key derived beforehand (xeddsaSigningKey): a signer that signs many
 * messages with one key (a device signing every request) spares the derivation's scalar
 * multiplication, about half the cost of a signature. The secret nonce r and the key a are only
 * ever handled as bytes by constant-time scalar operations (libsodium's, or fixed-width limbs on the
 * pure-TypeScript backend), never as BigInts, whose time follows their length.
 */
export function xeddsaSignWith(
  signingKey: XeddsaSigningKey,
  message: Uint8Array,
  nonce: Uint8Array = backend.randomBytes(XEDDSA_NONCE_BYTES),
): Uint8Array {
  checkBytes('XEdDSA message', message);
  checkLength('XEdDSA nonce', nonce, XEDDSA_NONCE_BYTES);
  const { scalar, publicKey } = signingKey;
  const r = xeddsaNonceScalar(scalar, message, nonce);
  const bigR = backend.ed25519BaseNoclamp(r);
  const h = backend.scalarReduce(backend.sha512(bigR, publicKey, message));
  const signature = new Uint8Array(SIGNATURE_BYTES);
  signature.set(bigR, 0);
  signature.set(backend.scalarMulAdd(h, scalar, r), 32);
  r.fill(0);
  return signature;
}

/**
 * Edwards forms (sign bit 0) of recently verified X25519 keys, most recently used last. The
 * conversion is a pure function of the 32 key bytes but costs a field inversion, and a verifier
 * (the key server) checks many signatures under the same few keys. Bounded: the oldest entry goes.
 */
const EDWARDS_CACHE_SIZE = 4096;
const edwardsKeys = new Map<string, Uint8Array>();

function edwardsKey(x25519PublicKey: Uint8Array): Uint8Array {
  checkLength('X25519 public key', x25519PublicKey, X25519_KEY_BYTES);
  const id = String.fromCharCode(...x25519PublicKey);
  let key = edwardsKeys.get(id);
  if (key !== undefined) {
    edwardsKeys.delete(id);
  } else {
    key = montgomeryToEdwards(x25519PublicKey, 0);
    if (edwardsKeys.size >= EDWARDS_CACHE_SIZE) edwardsKeys.delete(edwardsKeys.keys().next().value!);
  }
  edwardsKeys.set(id, key);
  return key;
}

/**
 * Verifies as the firmware does: the X25519 key converted to Edwards with sign bit 0, then
 * libsodium's strict Ed25519 verification. (The backends only read the key they are given, so the
 * cached Edwards key is shared.)
 */
export function xeddsaVerify(x25519PublicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  checkBytes('XEdDSA message', message);
  checkLength('XEdDSA signature', signature, SIGNATURE_BYTES);
  return backend.ed25519Verify(signature, message, edwardsKey(x25519PublicKey));
}

/** Strict Ed25519 verification with an Edwards key given directly (libsodium's semantics). */
export function ed25519Verify(ed25519PublicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  checkLength('Ed25519 public key', ed25519PublicKey, 32);
  checkBytes('Ed25519 message', message);
  checkLength('Ed25519 signature', signature, SIGNATURE_BYTES);
  return backend.ed25519Verify(signature, message, ed25519PublicKey);
}
