import { encodeBase64url } from '../base64url.js';
import type { MessageKey, RatchetPublicKey } from './ratchet_keys.js';

/** A message key kept for a message that has not arrived yet (out of order or lost). */
export interface SkippedMessageKey {
  readonly dh: RatchetPublicKey;
  readonly n: number;
  readonly messageKey: MessageKey;
}

/**
 * Skipped keys by (dh, n), oldest first: a Map keeps insertion order, so the first entry is the one
 * to delete when the store is full. Sessions never change a map they hold; writers copy it first.
 */
export type SkippedKeys = ReadonlyMap<string, SkippedMessageKey>;

export const NO_SKIPPED_KEYS: SkippedKeys = new Map();

/** Encodings of ratchet keys already seen: one skip stores up to MAX_SKIP keys under the same key object. */
const keyText = new WeakMap<Uint8Array, string>();

/** The map key of the skipped message key for (dh, n). */
export function skippedKeyId(dh: Uint8Array, n: number): string {
  let text = keyText.get(dh);
  if (text === undefined) {
    text = encodeBase64url(dh);
    keyText.set(dh, text);
  }
  return `${n}.${text}`;
}

/** Stores keys oldest first, deleting the oldest beyond `capacity`. */
export function withSkippedKeys(skipped: SkippedKeys, added: readonly SkippedMessageKey[], capacity: number): SkippedKeys {
  if (added.length === 0) return skipped;
  const next = new Map(skipped);
  for (const key of added) {
    next.set(skippedKeyId(key.dh, key.n), key);
    if (next.size > capacity) next.delete(next.keys().next().value!);
  }
  return next;
}

export function withoutSkippedKey(skipped: SkippedKeys, id: string): SkippedKeys {
  const next = new Map(skipped);
  next.delete(id);
  return next;
}
