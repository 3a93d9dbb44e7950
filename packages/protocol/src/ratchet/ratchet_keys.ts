import { checkLength } from '../bytes.js';
import { X25519_KEY_BYTES } from '../sizes.js';
import type { KeyPair } from '../x25519.js';

/**
 * Distinct types for the 32-byte values of the ratchet, so that passing a chain key where a root
 * key belongs, or a peer's key where one's own belongs, does not compile. Each is still a
 * Uint8Array, so it goes wherever bytes go; plain bytes become one only through the checked
 * constructors below (or as results of the functions that derive them).
 */
declare const brand: unique symbol;
type Branded<B extends string> = Uint8Array & { readonly [brand]: B };

/** SK, the 32-byte output of X3DH. */
export type SharedKey = Branded<'SharedKey'>;
export type RootKey = Branded<'RootKey'>;
export type ChainKey = Branded<'ChainKey'>;
/** mk: used for exactly one message, through MESSAGE_KEYS. */
export type MessageKey = Branded<'MessageKey'>;
/** A ratchet public key as it travels in a header (`dh`). */
export type RatchetPublicKey = Branded<'RatchetPublicKey'>;
/** An X25519 identity public key. */
export type IdentityKey = Branded<'IdentityKey'>;

export interface RatchetKeyPair {
  readonly publicKey: RatchetPublicKey;
  readonly privateKey: Uint8Array;
}

const KEY_BYTES = X25519_KEY_BYTES;

export const asSharedKey = (bytes: Uint8Array): SharedKey => checkLength('shared key', bytes, KEY_BYTES) as SharedKey;
export const asRootKey = (bytes: Uint8Array): RootKey => checkLength('root key', bytes, KEY_BYTES) as RootKey;
export const asChainKey = (bytes: Uint8Array): ChainKey => checkLength('chain key', bytes, KEY_BYTES) as ChainKey;
export const asMessageKey = (bytes: Uint8Array): MessageKey => checkLength('message key', bytes, KEY_BYTES) as MessageKey;
export const asRatchetPublicKey = (bytes: Uint8Array): RatchetPublicKey =>
  checkLength('ratchet public key', bytes, KEY_BYTES) as RatchetPublicKey;
export const asIdentityKey = (bytes: Uint8Array): IdentityKey => checkLength('identity key', bytes, KEY_BYTES) as IdentityKey;

/**
 * Any X25519 key pair (a signed prekey, a freshly generated one) as a ratchet key pair: a copy, so
 * that a caller wiping its own key (a signed prekey past its grace period) leaves sessions intact.
 */
export function asRatchetKeyPair(pair: KeyPair): RatchetKeyPair {
  return {
    publicKey: asRatchetPublicKey(pair.publicKey).slice() as RatchetPublicKey,
    privateKey: checkLength('ratchet private key', pair.privateKey, KEY_BYTES).slice(),
  };
}
