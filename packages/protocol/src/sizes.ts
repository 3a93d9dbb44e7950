/** Byte lengths fixed by the protocol. */
export const X25519_KEY_BYTES = 32;
export const ED25519_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const XEDDSA_NONCE_BYTES = 64;
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;
export const SHARED_KEY_BYTES = 32;
