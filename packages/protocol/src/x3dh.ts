import { backend } from '#crypto-backend';
import { checkLength, concatBytes, utf8 } from './bytes.js';
import { InvalidMessageError, SignatureError } from './errors.js';
import type { SharedKey } from './ratchet/ratchet_keys.js';
import { SHARED_KEY_BYTES, SIGNATURE_BYTES, X25519_KEY_BYTES } from './sizes.js';
import { diffieHellman, generateKeyPair, type KeyPair } from './x25519.js';
import { xeddsaVerify } from './xeddsa.js';

/** The firmware's HKDF info string. */
export const DEFAULT_X3DH_INFO = 'MyProtocol';

/** F: 32 bytes of 0xFF prepended to the DH outputs (X3DH section 2.2, for X25519). */
const KDF_PREFIX = new Uint8Array(32).fill(0xff);
const DEFAULT_INFO_BYTES = utf8.encode(DEFAULT_X3DH_INFO);
/** HKDF without a salt is HKDF with HashLen zero bytes (RFC 5869 section 2.2). */
const ZERO_SALT = new Uint8Array(64);

export interface X3dhOptions {
  /** HKDF info; `MyProtocol` unless given. */
  info?: string | Uint8Array | undefined;
}

export interface X3dhInitiateOptions extends X3dhOptions {
  ephemeral?: KeyPair | undefined;
  /**
   * The bytes the signed prekey signature covers: the 32 key bytes unless given (v1, the X3DH
   * specification); v2 signs a domain-separated encoding naming the device and the prekey id.
   */
  signedPreKeyMessage?: Uint8Array | undefined;
}

export interface PreKeyBundle {
  identityKey: Uint8Array;
  signedPreKey: Uint8Array;
  signedPreKeySignature: Uint8Array;
  oneTimePreKey?: { id: number; publicKey: Uint8Array } | undefined;
}

export interface X3dhSecrets {
  /** SK, 32 bytes. */
  sharedKey: SharedKey;
  /** AD = initiator identity key || responder identity key, 64 bytes. */
  associatedData: Uint8Array;
}

export interface InitiatorResult extends X3dhSecrets {
  ephemeralPublicKey: Uint8Array;
  /** The one-time prekey used, or null when the bundle had none. */
  oneTimePreKeyId: number | null;
}

export interface ResponderKeys {
  identity: KeyPair;
  /** Private key of the signed prekey the initiator used. */
  signedPreKey: Uint8Array;
  /** Private key of the one-time prekey the initiator used, if any. */
  oneTimePreKey?: Uint8Array | undefined;
}

/** SK = HKDF-SHA-512(salt = 0^64, IKM = F || DH1 || DH2 || DH3 [|| DH4], info, L = 32). */
export function x3dhKdf(dhOutputs: readonly Uint8Array[], info: string | Uint8Array = DEFAULT_X3DH_INFO): SharedKey {
  if (dhOutputs.length !== 3 && dhOutputs.length !== 4) {
    throw new InvalidMessageError(`X3DH needs 3 or 4 DH outputs, got ${dhOutputs.length}`);
  }
  dhOutputs.forEach((dh, i) => checkLength(`DH${i + 1}`, dh, X25519_KEY_BYTES));
  const ikm = concatBytes(KDF_PREFIX, ...dhOutputs);
  const infoBytes = info === DEFAULT_X3DH_INFO ? DEFAULT_INFO_BYTES : typeof info === 'string' ? utf8.encode(info) : info;
  const sk = backend.hkdfSha512(ikm, ZERO_SALT, infoBytes, SHARED_KEY_BYTES);
  ikm.fill(0);
  return sk as SharedKey;
}

export function associatedData(initiatorIdentityKey: Uint8Array, responderIdentityKey: Uint8Array): Uint8Array {
  return concatBytes(
    checkLength('initiator identity key', initiatorIdentityKey, X25519_KEY_BYTES),
    checkLength('responder identity key', responderIdentityKey, X25519_KEY_BYTES),
  );
}

/**
 * Throws unless the bundle's keys have the right sizes and its signed prekey is signed by its
 * identity key (over `signedMessage`, the key bytes unless given).
 */
export function verifyBundle(bundle: PreKeyBundle, signedMessage: Uint8Array = bundle.signedPreKey): void {
  checkLength('bundle identity key', bundle.identityKey, X25519_KEY_BYTES);
  checkLength('bundle signed prekey', bundle.signedPreKey, X25519_KEY_BYTES);
  checkLength('bundle signed prekey signature', bundle.signedPreKeySignature, SIGNATURE_BYTES);
  if (bundle.oneTimePreKey) checkLength('bundle one-time prekey', bundle.oneTimePreKey.publicKey, X25519_KEY_BYTES);
  if (!xeddsaVerify(bundle.identityKey, signedMessage, bundle.signedPreKeySignature)) {
    throw new SignatureError('signed prekey');
  }
}

/**
 * Initiator side (X3DH section 3.3): verify the signed prekey, then DH1 = DH(IK_A, SPK_B),
 * DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B). Aborts on a bad signature
 * or any all-zero DH output.
 */
export function x3dhInitiate(
  identity: KeyPair,
  bundle: PreKeyBundle,
  options: X3dhInitiateOptions = {},
): InitiatorResult {
  verifyBundle(bundle, options.signedPreKeyMessage);
  const ephemeral = options.ephemeral ?? generateKeyPair();
  const dhs = [
    diffieHellman(identity.privateKey, bundle.signedPreKey, 'DH1'),
    diffieHellman(ephemeral.privateKey, bundle.identityKey, 'DH2'),
    diffieHellman(ephemeral.privateKey, bundle.signedPreKey, 'DH3'),
  ];
  if (bundle.oneTimePreKey) dhs.push(diffieHellman(ephemeral.privateKey, bundle.oneTimePreKey.publicKey, 'DH4'));
  const sharedKey = x3dhKdf(dhs, options.info);
  for (const dh of dhs) dh.fill(0);
  return {
    sharedKey,
    associatedData: associatedData(identity.publicKey, bundle.identityKey),
    ephemeralPublicKey: ephemeral.publicKey,
    oneTimePreKeyId: bundle.oneTimePreKey ? bundle.oneTimePreKey.id : null,
  };
}

/** Responder side: the same four DH values from the other ends, and AD built from known keys. */
export function x3dhRespond(
  keys: ResponderKeys,
  initiatorIdentityKey: Uint8Array,
  initiatorEphemeralKey: Uint8Array,
  options: X3dhOptions = {},
): X3dhSecrets {
  const dhs = [
    diffieHellman(keys.signedPreKey, initiatorIdentityKey, 'DH1'),
    diffieHellman(keys.identity.privateKey, initiatorEphemeralKey, 'DH2'),
    diffieHellman(keys.signedPreKey, initiatorEphemeralKey, 'DH3'),
  ];
  if (keys.oneTimePreKey) dhs.push(diffieHellman(keys.oneTimePreKey, initiatorEphemeralKey, 'DH4'));
  const sharedKey = x3dhKdf(dhs, options.info);
  for (const dh of dhs) dh.fill(0);
  return { sharedKey, associatedData: associatedData(initiatorIdentityKey, keys.identity.publicKey) };
}
