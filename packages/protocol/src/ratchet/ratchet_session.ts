import { checkLength } from '../bytes.js';
import { diffieHellman, generateKeyPair, type KeyPair } from '../x25519.js';
import { associatedData } from '../x3dh.js';
import { kdfRoot } from './chain_kdf.js';
import {
  asRatchetKeyPair, type ChainKey, type RatchetKeyPair, type RatchetPublicKey, type RootKey, type SharedKey,
} from './ratchet_keys.js';
import { NO_SKIPPED_KEYS, type SkippedKeys } from './skipped_keys.js';

/** A header may skip at most this many message keys of one chain; skipping exactly this many is allowed. */
export const MAX_SKIP = 256;
/** At most this many skipped message keys are stored per session; beyond it the oldest are deleted. */
export const MAX_SKIPPED = 512;
/** AD_session = IK_A || IK_B. */
export const SESSION_AD_BYTES = 64;

/**
 * The state of one Double Ratchet session (Signal's state variables, named in full). Immutable:
 * every operation returns a new session and leaves the one it was given as it was, so a refused
 * message costs nothing and the caller decides when the new state replaces the old (store it
 * before handing on a plaintext or sending a message).
 */
export interface RatchetSession {
  /** AD_session = IK_A || IK_B, A being the initiator, on both sides (64 bytes). */
  readonly associatedData: Uint8Array;
  /** RK */
  readonly rootKey: RootKey;
  /** DHs: this side's current ratchet key pair. */
  readonly sendingKeyPair: RatchetKeyPair;
  /** DHr: the peer's current ratchet public key, null before the first message received. */
  readonly receivingKey: RatchetPublicKey | null;
  /** CKs, null on the responder until the first message arrives. */
  readonly sendingChainKey: ChainKey | null;
  /** CKr, null before the first message received. */
  readonly receivingChainKey: ChainKey | null;
  /** Ns */
  readonly sendCount: number;
  /** Nr */
  readonly receiveCount: number;
  /** PN */
  readonly previousSendCount: number;
  /** MKSKIPPED, oldest first, at most MAX_SKIPPED. */
  readonly skipped: SkippedKeys;
}

export interface InitiatorRatchetStart {
  /** SK from X3DH. */
  sharedKey: SharedKey;
  initiatorIdentityKey: Uint8Array;
  responderIdentityKey: Uint8Array;
  /** The responder's signed prekey the X3DH used: the first DHr. */
  responderSignedPreKey: Uint8Array;
  /** The first DHs; a fresh key pair unless given (tests, vectors). */
  ratchetKeyPair?: KeyPair | undefined;
}

export interface ResponderRatchetStart {
  sharedKey: SharedKey;
  initiatorIdentityKey: Uint8Array;
  responderIdentityKey: Uint8Array;
  /** The signed prekey pair the initiator used: the responder's first DHs. */
  signedPreKeyPair: KeyPair;
}

/**
 * Initiator (Alice) right after X3DH: DHs = a fresh key pair, DHr = SPK_B,
 * (RK, CKs) = KDF_RK(SK, DH(DHs, SPK_B)). It can send at once; its message 0 carries AD_first.
 * Throws InvalidKeyError / SmallOrderKeyError for an unusable signed prekey.
 */
export function startInitiatorRatchet(start: InitiatorRatchetStart): RatchetSession {
  const sendingKeyPair = asRatchetKeyPair(start.ratchetKeyPair ?? generateKeyPair());
  const receivingKey = checkLength('responder signed prekey', start.responderSignedPreKey, 32).slice() as RatchetPublicKey;
  const { rootKey, chainKey } = kdfRoot(start.sharedKey, diffieHellman(sendingKeyPair.privateKey, receivingKey, 'ratchet start'));
  return {
    associatedData: associatedData(start.initiatorIdentityKey, start.responderIdentityKey),
    rootKey,
    sendingKeyPair,
    receivingKey,
    sendingChainKey: chainKey,
    receivingChainKey: null,
    sendCount: 0,
    receiveCount: 0,
    previousSendCount: 0,
    skipped: NO_SKIPPED_KEYS,
  };
}

/**
 * Responder (Bob) after X3DH: DHs = its signed prekey pair, RK = SK, no chains yet. It cannot
 * send until it has decrypted the initiator's first message (with AD_first).
 */
export function startResponderRatchet(start: ResponderRatchetStart): RatchetSession {
  return {
    associatedData: associatedData(start.initiatorIdentityKey, start.responderIdentityKey),
    rootKey: checkLength('shared key', start.sharedKey, 32).slice() as RootKey,
    sendingKeyPair: asRatchetKeyPair(start.signedPreKeyPair),
    receivingKey: null,
    sendingChainKey: null,
    receivingChainKey: null,
    sendCount: 0,
    receiveCount: 0,
    previousSendCount: 0,
    skipped: NO_SKIPPED_KEYS,
  };
}
