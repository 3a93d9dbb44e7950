import { concatBytes } from '../bytes.js';
import { checkCanonicalPublicKey, isSmallOrderPublicKey } from '../x25519.js';
import { X25519_KEY_BYTES } from '../sizes.js';
import { RatchetError } from './ratchet_error.js';
import type { RatchetPublicKey } from './ratchet_keys.js';

/** HEADER(dh_pub, pn, n) = dh_pub || u32be(pn) || u32be(n): 40 bytes, authenticated as part of the AD. */
export interface RatchetHeader {
  /** The sender's current ratchet public key. */
  readonly dh: RatchetPublicKey;
  /** Number of messages in the sender's previous sending chain. */
  readonly pn: number;
  /** Number of this message in the sender's current sending chain. */
  readonly n: number;
}

export const HEADER_BYTES = 40;
export const MAX_COUNTER = 0xffffffff;

const isCounter = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_COUNTER;

export function encodeHeader(header: RatchetHeader): Uint8Array {
  const counters = new Uint8Array(8);
  const view = new DataView(counters.buffer);
  view.setUint32(0, header.pn);
  view.setUint32(4, header.n);
  return concatBytes(header.dh, counters);
}

/**
 * Refuses a header no honest sender makes: BAD_HEADER for a malformed key or counter, INVALID_KEY
 * for a non-canonical key (one key, one encoding, which replay detection relies on) and
 * SMALL_ORDER_KEY for a key whose Diffie-Hellman output is all zeros.
 */
export function checkHeader(header: RatchetHeader): void {
  if (!(header.dh instanceof Uint8Array) || header.dh.length !== X25519_KEY_BYTES) {
    throw new RatchetError('BAD_HEADER', `header dh must be ${X25519_KEY_BYTES} bytes`);
  }
  if (!isCounter(header.pn) || !isCounter(header.n)) {
    throw new RatchetError('BAD_HEADER', `header pn and n must be integers from 0 to ${MAX_COUNTER}`);
  }
  try {
    checkCanonicalPublicKey(header.dh, 'header dh');
  } catch (error) {
    throw new RatchetError('INVALID_KEY', (error as Error).message);
  }
  if (isSmallOrderPublicKey(header.dh)) throw new RatchetError('SMALL_ORDER_KEY', 'header dh has small order');
}
