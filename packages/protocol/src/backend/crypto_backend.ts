/**
 * The primitives the protocol is composed of. One implementation wraps libsodium (native, Node),
 * the other audited pure TypeScript (@noble/*, browsers and platforms without a prebuilt binary).
 * Inputs are already length-checked by the callers; implementations do no validation of their own
 * beyond what the primitive itself defines.
 */
export interface CryptoBackend {
  readonly name: 'sodium-native' | 'noble';
  randomBytes(length: number): Uint8Array;
  /** RFC 7748 X25519 with the base point; clamps the scalar. */
  x25519Base(privateKey: Uint8Array): Uint8Array;
  /** RFC 7748 X25519; returns null when the output is all zero (small-order peer key). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null;
  /** Ed25519 encoding of scalar * B for a scalar below 2^255, without clamping or reduction. */
  ed25519BaseNoclamp(scalar: Uint8Array): Uint8Array;
  sha512(...parts: Uint8Array[]): Uint8Array;
  /** A 64-byte little-endian integer (a SHA-512 output) reduced mod L, as 32 bytes. */
  scalarReduce(wide: Uint8Array): Uint8Array;
  /** -s mod L for any 32-byte little-endian s, reduced or not. */
  scalarNegate(scalar: Uint8Array): Uint8Array;
  /** a*b + c mod L for 32-byte little-endian a and b (either may be unreduced) and c < L. */
  scalarMulAdd(a: Uint8Array, b: Uint8Array, c: Uint8Array): Uint8Array;
  /** libsodium's crypto_sign_verify_detached: strict, cofactorless Ed25519 verification. */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** RFC 2104 HMAC-SHA-512, 64 bytes. */
  hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array;
  xchachaEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  /** Returns null when authentication fails. */
  xchachaDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | null;
}
