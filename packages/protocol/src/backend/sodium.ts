import type { CryptoBackend } from './crypto_backend.js';
import { mulAddWide } from './scalar_mod_l.js';

/** The subset of sodium-native's API used here (it has no bundled type declarations). */
export interface SodiumNative {
  randombytes_buf(out: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_ed25519_base_noclamp(q: Uint8Array, n: Uint8Array): void;
  crypto_core_ed25519_scalar_reduce(out: Uint8Array, wide: Uint8Array): void;
  crypto_core_ed25519_scalar_negate(out: Uint8Array, scalar: Uint8Array): void;
  crypto_hash_sha512(out: Uint8Array, input: Uint8Array): void;
  crypto_hash_sha512_init(state: Uint8Array): void;
  crypto_hash_sha512_update(state: Uint8Array, input: Uint8Array): void;
  crypto_hash_sha512_final(state: Uint8Array, out: Uint8Array): void;
  crypto_hash_sha512_STATEBYTES: number;
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array,
  ): number;
}

/** The parts of node:crypto used here: OpenSSL's HKDF and HMAC. */
export interface NodeKdf {
  hkdfSync(digest: string, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, keylen: number): ArrayBuffer;
  createHmac(digest: string, key: Uint8Array): { update(data: Uint8Array): { digest(): Uint8Array } };
}

const TAG_BYTES = 16;

/**
 * libsodium through sodium-native for every primitive it has; HKDF and HMAC come from node:crypto
 * (OpenSSL) because the libsodium build shipped by sodium-native exposes no HMAC-SHA-512.
 */
export function createSodiumBackend(sodium: SodiumNative, { hkdfSync, createHmac }: NodeKdf): CryptoBackend {
  const hashState = new Uint8Array(sodium.crypto_hash_sha512_STATEBYTES);
  return {
    name: 'sodium-native',
    randomBytes(length) {
      const out = new Uint8Array(length);
      sodium.randombytes_buf(out);
      return out;
    },
    x25519Base(privateKey) {
      const out = new Uint8Array(32);
      sodium.crypto_scalarmult_base(out, privateKey);
      return out;
    },
    x25519(privateKey, publicKey) {
      const out = new Uint8Array(32);
      try {
        sodium.crypto_scalarmult(out, privateKey, publicKey);
      } catch {
        return null; // libsodium refuses an all-zero result
      }
      return out;
    },
    ed25519BaseNoclamp(scalar) {
      const out = new Uint8Array(32);
      sodium.crypto_scalarmult_ed25519_base_noclamp(out, scalar);
      return out;
    },
    sha512(...parts) {
      const out = new Uint8Array(64);
      if (parts.length === 1) {
        sodium.crypto_hash_sha512(out, parts[0]!);
        return out;
      }
      sodium.crypto_hash_sha512_init(hashState);
      for (const part of parts) sodium.crypto_hash_sha512_update(hashState, part);
      sodium.crypto_hash_sha512_final(hashState, out);
      return out;
    },
    scalarReduce(wide) {
      const out = new Uint8Array(32);
      sodium.crypto_core_ed25519_scalar_reduce(out, wide);
      return out;
    },
    scalarNegate(scalar) {
      const out = new Uint8Array(32); // libsodium reduces L * 2^256 - s: any 32-byte s is fine
      sodium.crypto_core_ed25519_scalar_negate(out, scalar);
      return out;
    },
    /**
     * sodium-native (5.1) binds no crypto_core_ed25519_scalar_mul, so the 512-bit integer a*b + c is
     * formed in fixed-width limbs (scalar_mod_l.ts, constant time) and libsodium reduces it.
     */
    scalarMulAdd(a, b, c) {
      const wide = mulAddWide(a, b, c);
      const out = new Uint8Array(32);
      sodium.crypto_core_ed25519_scalar_reduce(out, wide);
      wide.fill(0);
      return out;
    },
    ed25519Verify(signature, message, publicKey) {
      return sodium.crypto_sign_verify_detached(signature, message, publicKey);
    },
    hkdfSha512(ikm, salt, info, length) {
      return new Uint8Array(hkdfSync('sha512', ikm, salt, info, length));
    },
    hmacSha512(key, data) {
      const mac = createHmac('sha512', key).update(data).digest();
      return new Uint8Array(mac.buffer, mac.byteOffset, mac.byteLength);
    },
    xchachaEncrypt(key, nonce, plaintext, ad) {
      const out = new Uint8Array(plaintext.length + TAG_BYTES);
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key);
      return out;
    },
    xchachaDecrypt(key, nonce, ciphertext, ad) {
      if (ciphertext.length < TAG_BYTES) return null;
      const out = new Uint8Array(ciphertext.length - TAG_BYTES);
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce, key);
      } catch {
        return null;
      }
      return out;
    },
  };
}
