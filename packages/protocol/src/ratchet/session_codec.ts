import { checkBytes, constantTimeEqual as equalBytes } from '../bytes.js';
import { EncodingError } from '../errors.js';
import type { ChainKey, MessageKey, RatchetPublicKey, RootKey } from './ratchet_keys.js';
import { MAX_SKIPPED, SESSION_AD_BYTES, type RatchetSession } from './ratchet_session.js';
import { skippedKeyId, type SkippedMessageKey } from './skipped_keys.js';

/**
 * Compact binary form of a RatchetSession, for a device's key store (ESP32 NVS included):
 *
 *   u8 version (1) | u8 flags (bit 0: DHr, bit 1: CKs, bit 2: CKr)
 *   AD_session (64) | RK (32) | DHs private (32) | DHs public (32)
 *   [DHr (32)] [CKs (32)] [CKr (32)]          present as the flags say
 *   u32be Ns | u32be Nr | u32be PN
 *   u16be K | K ratchet keys of skipped chains (32 each)
 *   u16be M | M skipped keys, oldest first: u16be index into the K keys | u32be n | mk (32)
 *
 * At most 274 bytes without skipped keys, 38 bytes per skipped key and 32 per chain they belong
 * to. Decoding is strict: exact length, known version and flags, indexes in range, no duplicates.
 */
export const SESSION_CODEC_VERSION = 1;
const KEY = 32;
const HAS_RECEIVING_KEY = 1;
const HAS_SENDING_CHAIN = 2;
const HAS_RECEIVING_CHAIN = 4;
const SKIPPED_ENTRY_BYTES = 2 + 4 + KEY;

export function encodeRatchetSession(session: RatchetSession): Uint8Array {
  const chains: Uint8Array[] = [];
  const entries = [...session.skipped.values()].map((entry) => {
    let index = chains.findIndex((dh) => dh === entry.dh || equalBytes(dh, entry.dh));
    if (index < 0) index = chains.push(entry.dh) - 1;
    return { index, entry };
  });
  const optional = [session.receivingKey, session.sendingChainKey, session.receivingChainKey];
  const present = optional.filter((key): key is NonNullable<typeof key> => key !== null);
  const length = 2 + SESSION_AD_BYTES + 3 * KEY + present.length * KEY + 12 + 2 + chains.length * KEY + 2 + entries.length * SKIPPED_ENTRY_BYTES;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let at = 0;
  const put = (bytes: Uint8Array) => {
    out.set(bytes, at);
    at += bytes.length;
  };
  const u16 = (value: number) => {
    view.setUint16(at, value);
    at += 2;
  };
  const u32 = (value: number) => {
    view.setUint32(at, value);
    at += 4;
  };
  out[at++] = SESSION_CODEC_VERSION;
  out[at++] = optional.reduce((flags, key, i) => (key === null ? flags : flags | (1 << i)), 0);
  put(session.associatedData);
  put(session.rootKey);
  put(session.sendingKeyPair.privateKey);
  put(session.sendingKeyPair.publicKey);
  present.forEach(put);
  u32(session.sendCount);
  u32(session.receiveCount);
  u32(session.previousSendCount);
  u16(chains.length);
  chains.forEach(put);
  u16(entries.length);
  for (const { index, entry } of entries) {
    u16(index);
    u32(entry.n);
    put(entry.messageKey);
  }
  return out;
}

/** Throws EncodingError on anything but the exact form encodeRatchetSession writes. */
export function decodeRatchetSession(bytes: Uint8Array): RatchetSession {
  checkBytes('ratchet session', bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number) => {
    if (at + n > bytes.length) throw new EncodingError(`ratchet session: truncated at byte ${at}`);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const part = bytes.slice(at, at + n);
    at += n;
    return part;
  };
  const u16 = () => {
    need(2);
    at += 2;
    return view.getUint16(at - 2);
  };
  const u32 = () => {
    need(4);
    at += 4;
    return view.getUint32(at - 4);
  };
  need(2);
  const version = bytes[at++];
  if (version !== SESSION_CODEC_VERSION) throw new EncodingError(`ratchet session: unknown version ${version}`);
  const flags = bytes[at++]!;
  if ((flags & ~(HAS_RECEIVING_KEY | HAS_SENDING_CHAIN | HAS_RECEIVING_CHAIN)) !== 0) {
    throw new EncodingError('ratchet session: unknown flags');
  }
  if ((flags & HAS_RECEIVING_CHAIN) !== 0 && (flags & HAS_RECEIVING_KEY) === 0) {
    throw new EncodingError('ratchet session: a receiving chain without a receiving key');
  }
  const associatedData = take(SESSION_AD_BYTES);
  const rootKey = take(KEY) as RootKey;
  const sendingKeyPair = { privateKey: take(KEY), publicKey: take(KEY) as RatchetPublicKey };
  const receivingKey = (flags & HAS_RECEIVING_KEY) !== 0 ? take(KEY) as RatchetPublicKey : null;
  const sendingChainKey = (flags & HAS_SENDING_CHAIN) !== 0 ? take(KEY) as ChainKey : null;
  const receivingChainKey = (flags & HAS_RECEIVING_CHAIN) !== 0 ? take(KEY) as ChainKey : null;
  const sendCount = u32();
  const receiveCount = u32();
  const previousSendCount = u32();
  const chains = Array.from({ length: u16() }, () => take(KEY) as RatchetPublicKey);
  const count = u16();
  if (count > MAX_SKIPPED) throw new EncodingError(`ratchet session: ${count} skipped keys, at most ${MAX_SKIPPED}`);
  const skipped = new Map<string, SkippedMessageKey>();
  for (let i = 0; i < count; i++) {
    const dh = chains[u16()];
    if (dh === undefined) throw new EncodingError('ratchet session: skipped key of an unknown chain');
    const n = u32();
    skipped.set(skippedKeyId(dh, n), { dh, n, messageKey: take(KEY) as MessageKey });
  }
  if (skipped.size !== count) throw new EncodingError('ratchet session: a skipped key is stored twice');
  if (at !== bytes.length) throw new EncodingError(`ratchet session: ${bytes.length - at} bytes after the end`);
  return {
    associatedData, rootKey, sendingKeyPair, receivingKey, sendingChainKey, receivingChainKey,
    sendCount, receiveCount, previousSendCount, skipped,
  };
}
