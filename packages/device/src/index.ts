export * from './errors.js';
export * from './device_state.js';
export type { KeyStore } from './key_store.js';
export { FileKeyStore, type FileKeyStoreOptions } from './file_key_store.js';
export { MemoryKeyStore } from './memory_key_store.js';
export { DEFAULT_SCRYPT_PARAMS, type ScryptParams } from './passphrase_seal.js';
