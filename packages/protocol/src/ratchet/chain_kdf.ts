import { backend } from '#crypto-backend';
import { utf8 } from '../bytes.js';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES } from '../sizes.js';
import type { ChainKey, MessageKey, RootKey, SharedKey } from './ratchet_keys.js';

/** The three KDFs of the ratchet, byte for byte as ../shared/spec/ratchet-v2.md fixes them. */

const ROOT_INFO = utf8.encode('x3dh-iot/v2/ratchet/root');
const MESSAGE_INFO = utf8.encode('x3dh-iot/v2/ratchet/message');
const ZERO_SALT = new Uint8Array(64);
const MESSAGE_KEY_INPUT = Uint8Array.of(0x01);
const CHAIN_KEY_INPUT = Uint8Array.of(0x02);

/** KDF_RK: HKDF-SHA-512(salt = rk, ikm = dh_out, info = "x3dh-iot/v2/ratchet/root", 64) split in two. */
export function kdfRoot(rootKey: RootKey | SharedKey, dhOutput: Uint8Array): { rootKey: RootKey; chainKey: ChainKey } {
  const okm = backend.hkdfSha512(dhOutput, rootKey, ROOT_INFO, 64);
  return { rootKey: okm.slice(0, 32) as RootKey, chainKey: okm.slice(32, 64) as ChainKey };
}

/** KDF_CK: mk = HMAC-SHA-512(ck, 0x01)[0:32], ck' = HMAC-SHA-512(ck, 0x02)[0:32]. */
export function kdfChain(chainKey: ChainKey): { chainKey: ChainKey; messageKey: MessageKey } {
  return {
    chainKey: backend.hmacSha512(chainKey, CHAIN_KEY_INPUT).slice(0, 32) as ChainKey,
    messageKey: backend.hmacSha512(chainKey, MESSAGE_KEY_INPUT).slice(0, 32) as MessageKey,
  };
}

/** MESSAGE_KEYS: HKDF-SHA-512(salt = 64 zero bytes, ikm = mk, info = "x3dh-iot/v2/ratchet/message", 56) = key || nonce. */
export function messageKeys(messageKey: MessageKey): { key: Uint8Array; nonce: Uint8Array } {
  const okm = backend.hkdfSha512(messageKey, ZERO_SALT, MESSAGE_INFO, AEAD_KEY_BYTES + AEAD_NONCE_BYTES);
  return { key: okm.subarray(0, AEAD_KEY_BYTES), nonce: okm.subarray(AEAD_KEY_BYTES) };
}
