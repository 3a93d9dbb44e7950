import { aeadDecrypt, aeadEncrypt, randomAeadNonce } from './aead.js';
import { checkLength, constantTimeEqual } from './bytes.js';
import { InvalidMessageError } from './errors.js';
import { AEAD_NONCE_BYTES, X25519_KEY_BYTES } from './sizes.js';
import type { KeyPair } from './x25519.js';
import {
  type PreKeyBundle, type ResponderKeys, type X3dhOptions, type X3dhSecrets, x3dhInitiate, x3dhRespond,
} from './x3dh.js';

/** The X3DH initial message: what the responder needs besides its own private keys. */
export interface InitialMessage {
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  oneTimePreKeyId: number | null;
  nonce: Uint8Array;
  /** XChaCha20-Poly1305 of the first plaintext under SK, with AD = IK_A || IK_B. */
  ciphertext: Uint8Array;
}

/** Runs the initiator side of X3DH and seals the first plaintext. */
export function createInitialMessage(
  identity: KeyPair,
  bundle: PreKeyBundle,
  plaintext: Uint8Array,
  options: X3dhOptions & { ephemeral?: KeyPair | undefined; nonce?: Uint8Array | undefined } = {},
): { secrets: X3dhSecrets; message: InitialMessage } {
  const result = x3dhInitiate(identity, bundle, options);
  const nonce = options.nonce ?? randomAeadNonce();
  const ciphertext = aeadEncrypt(result.sharedKey, nonce, plaintext, result.associatedData);
  return {
    secrets: { sharedKey: result.sharedKey, associatedData: result.associatedData },
    message: {
      identityKey: identity.publicKey,
      ephemeralKey: result.ephemeralPublicKey,
      oneTimePreKeyId: result.oneTimePreKeyId,
      nonce,
      ciphertext,
    },
  };
}

/**
 * Runs the responder side and opens the first plaintext. AD is rebuilt from the two identity keys
 * (X3DH section 3.4); a carried AD, as v1 messages have, must equal it. Nothing is kept on failure:
 * the caller deletes the one-time prekey only after this returns.
 */
export function openInitialMessage(
  keys: ResponderKeys,
  message: InitialMessage,
  options: X3dhOptions & { carriedAssociatedData?: Uint8Array | undefined } = {},
): { secrets: X3dhSecrets; plaintext: Uint8Array } {
  checkLength('initiator identity key', message.identityKey, X25519_KEY_BYTES);
  checkLength('initiator ephemeral key', message.ephemeralKey, X25519_KEY_BYTES);
  checkLength('initial message nonce', message.nonce, AEAD_NONCE_BYTES);
  const secrets = x3dhRespond(keys, message.identityKey, message.ephemeralKey, options);
  const carried = options.carriedAssociatedData;
  if (carried && !constantTimeEqual(carried, secrets.associatedData)) {
    throw new InvalidMessageError('initial message: associated data does not match the two identity keys');
  }
  const plaintext = aeadDecrypt(secrets.sharedKey, message.nonce, message.ciphertext, secrets.associatedData);
  return { secrets, plaintext };
}
