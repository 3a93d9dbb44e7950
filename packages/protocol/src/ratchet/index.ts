export * from './ratchet_keys.js';
export * from './ratchet_error.js';
export { kdfChain, kdfRoot, messageKeys } from './chain_kdf.js';
export { encodeHeader, HEADER_BYTES, type RatchetHeader } from './message_header.js';
export { skippedKeyId, type SkippedKeys, type SkippedMessageKey } from './skipped_keys.js';
export * from './ratchet_session.js';
export * from './ratchet_cipher.js';
export * from './session_codec.js';
