import { type KeyPair, X25519_KEY_BYTES } from '@x3dh-iot/protocol';

declare const kind: unique symbol;
/** 32 bytes known to be one kind of key: a key of another kind is not assignable to it. */
type KeyOf<Kind extends string> = Uint8Array & { readonly [kind]: Kind };

/** A device's long-term public identity key (its own, a pinned peer's, or one a message names). */
export type IdentityKey = KeyOf<'identity key'>;
/** The public half of a signed prekey. */
export type SignedPreKeyPublic = KeyOf<'signed prekey'>;
/** A public Diffie-Hellman ratchet key. */
export type RatchetKey = KeyOf<'ratchet key'>;
/** A symmetric key two devices share (the X3DH output, or a v1 session's message key). */
export type SharedKey = KeyOf<'shared key'>;

/** The device's identity key pair, its public half typed. */
export interface IdentityKeyPair extends KeyPair {
  readonly publicKey: IdentityKey;
}

function checked<K extends Uint8Array>(what: string, bytes: Uint8Array): K {
  if (bytes.length !== X25519_KEY_BYTES) throw new TypeError(`${what} must be ${X25519_KEY_BYTES} bytes, got ${bytes.length}`);
  return bytes as K;
}

export const identityKey = (bytes: Uint8Array): IdentityKey => checked('an identity key', bytes);
export const signedPreKeyPublic = (bytes: Uint8Array): SignedPreKeyPublic => checked('a signed prekey', bytes);
export const ratchetKey = (bytes: Uint8Array): RatchetKey => checked('a ratchet key', bytes);
export const sharedKey = (bytes: Uint8Array): SharedKey => checked('a shared key', bytes);
export const identityKeyPair = (pair: KeyPair): IdentityKeyPair => ({ privateKey: pair.privateKey, publicKey: identityKey(pair.publicKey) });
