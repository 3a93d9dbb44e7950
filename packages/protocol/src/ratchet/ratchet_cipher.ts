import { backend } from '#crypto-backend';
import { checkBytes, checkLength, concatBytes, constantTimeEqual } from '../bytes.js';
import { InvalidMessageError, ProtocolError } from '../errors.js';
import { AEAD_TAG_BYTES } from '../sizes.js';
import { diffieHellman, generateKeyPair, type KeyPair } from '../x25519.js';
import { kdfChain, kdfRoot, messageKeys } from './chain_kdf.js';
import { checkHeader, encodeHeader, MAX_COUNTER, type RatchetHeader } from './message_header.js';
import { RatchetError } from './ratchet_error.js';
import { asRatchetKeyPair, type MessageKey, type RatchetPublicKey } from './ratchet_keys.js';
import { MAX_SKIP, MAX_SKIPPED, type RatchetSession } from './ratchet_session.js';
import { skippedKeyId, type SkippedMessageKey, withoutSkippedKey, withSkippedKeys } from './skipped_keys.js';

/** One ratchet message: the header travels in clear (authenticated), the nonce is derived, never sent. */
export interface RatchetMessage {
  readonly header: RatchetHeader;
  readonly ciphertext: Uint8Array;
}

/** AD_first = IK_A || IK_B || u32be(spk_id) || u32be(opk_id or 0xFFFFFFFF) || EK_A. */
export const FIRST_MESSAGE_AD_BYTES = 104;

export interface RatchetAdOptions {
  /**
   * AD_first (104 bytes) for the message carried in the x3dh.initial envelope, which replaces
   * AD_session as the prefix of its AD. Omit for every other message.
   */
  firstMessageAd?: Uint8Array | undefined;
}

export interface RatchetDecryptOptions extends RatchetAdOptions {
  /** GENERATE_DH for a DH ratchet step; a fresh X25519 key pair unless given (tests, vectors). */
  generateKeyPair?: (() => KeyPair) | undefined;
}

function messageAd(session: RatchetSession, header: RatchetHeader, options: RatchetAdOptions): Uint8Array {
  const prefix = options.firstMessageAd === undefined
    ? session.associatedData
    : checkLength('first message AD', options.firstMessageAd, FIRST_MESSAGE_AD_BYTES);
  return concatBytes(prefix, encodeHeader(header));
}

/**
 * RatchetEncrypt: (CKs, mk) = KDF_CK(CKs), header = (DHs.public, PN, Ns), Ns += 1. Sending never
 * steps the DH ratchet. Store the returned session before the message leaves, so that no
 * (DHs, Ns) is ever used twice.
 */
export function ratchetEncrypt(
  session: RatchetSession, plaintext: Uint8Array, options: RatchetAdOptions = {},
): { session: RatchetSession; message: RatchetMessage } {
  checkBytes('plaintext', plaintext);
  if (session.sendingChainKey === null) {
    throw new InvalidMessageError('the responder cannot send before it has received the first message');
  }
  if (session.sendCount >= MAX_COUNTER) throw new InvalidMessageError('sending chain exhausted');
  const { chainKey, messageKey } = kdfChain(session.sendingChainKey);
  const header: RatchetHeader = { dh: session.sendingKeyPair.publicKey, pn: session.previousSendCount, n: session.sendCount };
  const { key, nonce } = messageKeys(messageKey);
  const ciphertext = backend.xchachaEncrypt(key, nonce, plaintext, messageAd(session, header, options));
  return {
    session: { ...session, sendingChainKey: chainKey, sendCount: session.sendCount + 1 },
    message: { header, ciphertext },
  };
}

function open(messageKey: MessageKey, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array {
  const { key, nonce } = messageKeys(messageKey);
  const plaintext = ciphertext.length < AEAD_TAG_BYTES ? null : backend.xchachaDecrypt(key, nonce, ciphertext, ad);
  if (plaintext === null) throw new RatchetError('DECRYPTION_FAILED', 'ratchet message: authentication failed');
  return plaintext;
}

/** A session being changed by one decryption; the caller's session is never touched. */
type Working = { -readonly [K in keyof RatchetSession]: RatchetSession[K] };

/** SkipMessageKeys(until): refused beyond MAX_SKIP; the keys are stored oldest first. */
function skipMessageKeys(state: Working, until: number): void {
  if (state.receiveCount + MAX_SKIP < until) {
    throw new RatchetError('TOO_MANY_SKIPPED', `header skips ${until - state.receiveCount} message keys, at most ${MAX_SKIP} allowed`);
  }
  if (state.receivingChainKey === null || state.receivingKey === null || state.receiveCount >= until) return;
  const added: SkippedMessageKey[] = [];
  let chainKey = state.receivingChainKey;
  for (let n = state.receiveCount; n < until; n++) {
    const step = kdfChain(chainKey);
    added.push({ dh: state.receivingKey, n, messageKey: step.messageKey });
    chainKey = step.chainKey;
  }
  state.receivingChainKey = chainKey;
  state.receiveCount = until;
  state.skipped = withSkippedKeys(state.skipped, added, MAX_SKIPPED);
}

function ratchetDh(privateKey: Uint8Array, publicKey: RatchetPublicKey): Uint8Array {
  try {
    return diffieHellman(privateKey, publicKey, 'ratchet');
  } catch (error) {
    if (error instanceof ProtocolError && (error.code === 'SMALL_ORDER_KEY' || error.code === 'INVALID_KEY')) {
      throw new RatchetError(error.code, error.message);
    }
    throw error;
  }
}

/** DHRatchet: a receiving chain for the peer's new key, then a sending chain for a fresh key of ours. */
function dhRatchet(state: Working, dh: RatchetPublicKey, generate: () => KeyPair): void {
  state.previousSendCount = state.sendCount;
  state.sendCount = 0;
  state.receiveCount = 0;
  state.receivingKey = dh;
  const receiving = kdfRoot(state.rootKey, ratchetDh(state.sendingKeyPair.privateKey, dh));
  state.receivingChainKey = receiving.chainKey;
  state.sendingKeyPair = asRatchetKeyPair(generate());
  const sending = kdfRoot(receiving.rootKey, ratchetDh(state.sendingKeyPair.privateKey, dh));
  state.rootKey = sending.rootKey;
  state.sendingChainKey = sending.chainKey;
}

/**
 * RatchetDecrypt, all or nothing: every change (a DH ratchet step, skipped keys, counters) is
 * computed on a copy that is returned only when the AEAD opens. Throws RatchetError with the
 * refusal code otherwise; the session passed in is unchanged either way, and a refused message
 * uses up no generated ratchet key. Store the returned session before handing on the plaintext.
 */
export function ratchetDecrypt(
  session: RatchetSession, message: RatchetMessage, options: RatchetDecryptOptions = {},
): { session: RatchetSession; plaintext: Uint8Array } {
  const { header } = message;
  checkHeader(header);
  if (!(message.ciphertext instanceof Uint8Array)) throw new RatchetError('BAD_HEADER', 'ciphertext must be bytes');
  const ad = messageAd(session, header, options);

  const id = skippedKeyId(header.dh, header.n);
  const stored = session.skipped.get(id);
  if (stored !== undefined) {
    const plaintext = open(stored.messageKey, message.ciphertext, ad);
    return { session: { ...session, skipped: withoutSkippedKey(session.skipped, id) }, plaintext };
  }

  const state: Working = { ...session };
  const sameChain = session.receivingKey !== null && constantTimeEqual(header.dh, session.receivingKey);
  if (sameChain && header.n < session.receiveCount) {
    throw new RatchetError('DUPLICATE', 'message key already used or deleted (replayed message)');
  }
  if (!sameChain) {
    skipMessageKeys(state, header.pn);
    dhRatchet(state, header.dh.slice() as RatchetPublicKey, options.generateKeyPair ?? generateKeyPair);
  }
  skipMessageKeys(state, header.n);
  const step = kdfChain(state.receivingChainKey!);
  const plaintext = open(step.messageKey, message.ciphertext, ad);
  state.receivingChainKey = step.chainKey;
  state.receiveCount += 1;
  return { session: state, plaintext };
}
