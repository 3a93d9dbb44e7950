import {
  asIdentityKey, asRatchetPublicKey, asSharedKey, type IdentityKey, InvalidLengthError, type KeyPair, type RatchetPublicKey, type SharedKey,
  X25519_KEY_BYTES,
} from '@x3dh-iot/protocol';

/**
 * The device's key types. Identity, ratchet and shared keys are the protocol's own types (so a
 * device key goes straight into a ratchet function and back); the signed prekey's public half is
 * typed here. A key of one kind is not assignable to another, and plain bytes become one only
 * through the checked constructors below.
 */
export type { IdentityKey, SharedKey };
/** A public Diffie-Hellman ratchet key. */
export type RatchetKey = RatchetPublicKey;

declare const kind: unique symbol;
/** The public half of a signed prekey. */
export type SignedPreKeyPublic = Uint8Array & { readonly [kind]: 'signed prekey' };

/** The device's identity key pair, its public half typed. */
export interface IdentityKeyPair extends KeyPair {
  readonly publicKey: IdentityKey;
}

export const identityKey = asIdentityKey;
export const ratchetKey = asRatchetPublicKey;
export const sharedKey = asSharedKey;
export function signedPreKeyPublic(bytes: Uint8Array): SignedPreKeyPublic {
  if (bytes.length !== X25519_KEY_BYTES) throw new InvalidLengthError('signed prekey', X25519_KEY_BYTES, bytes.length);
  return bytes as SignedPreKeyPublic;
}
export const identityKeyPair = (pair: KeyPair): IdentityKeyPair => ({ privateKey: pair.privateKey, publicKey: identityKey(pair.publicKey) });
