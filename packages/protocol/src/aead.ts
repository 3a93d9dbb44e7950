import { backend } from '#crypto-backend';
import { checkBytes, checkLength } from './bytes.js';
import { DecryptionError, InvalidLengthError } from './errors.js';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from './sizes.js';

const NO_AD = new Uint8Array(0);

export function randomAeadNonce(): Uint8Array {
  return backend.randomBytes(AEAD_NONCE_BYTES);
}

/** XChaCha20-Poly1305-IETF; the 16-byte tag is appended. */
export function aeadEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = NO_AD): Uint8Array {
  checkLength('AEAD key', key, AEAD_KEY_BYTES);
  checkLength('AEAD nonce', nonce, AEAD_NONCE_BYTES);
  checkBytes('AEAD plaintext', plaintext);
  checkBytes('AEAD associated data', ad);
  return backend.xchachaEncrypt(key, nonce, plaintext, ad);
}

/** Throws DecryptionError when the key, nonce, associated data or ciphertext is not the one sealed. */
export function aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array = NO_AD): Uint8Array {
  checkLength('AEAD key', key, AEAD_KEY_BYTES);
  checkLength('AEAD nonce', nonce, AEAD_NONCE_BYTES);
  checkBytes('AEAD ciphertext', ciphertext);
  checkBytes('AEAD associated data', ad);
  if (ciphertext.length < AEAD_TAG_BYTES) {
    throw new InvalidLengthError('AEAD ciphertext', `at least ${AEAD_TAG_BYTES}`, ciphertext.length);
  }
  const plaintext = backend.xchachaDecrypt(key, nonce, ciphertext, ad);
  if (plaintext === null) throw new DecryptionError('AEAD');
  return plaintext;
}
