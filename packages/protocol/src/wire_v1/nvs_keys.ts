import { blake2b } from '@noble/hashes/blake2.js';
import { utf8 } from '../bytes.js';

/**
 * Names under which the original firmware keeps secrets in flash (ESP-IDF NVS keys are at most 15
 * characters, hence the short hash). A key store that uses the same names can be compared with, or
 * migrated from, a device's flash dump.
 */

/** `sk_` + hex of the first 4 bytes of BLAKE2b-128 (unkeyed) of the peer's username. */
export function sessionKeyNvsName(peerUsername: string): string {
  const digest = blake2b(utf8.encode(peerUsername), { dkLen: 16 });
  return `sk_${Array.from(digest.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function oneTimePreKeyNvsName(id: number): string {
  return `opk_${id}`;
}
