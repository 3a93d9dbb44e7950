import type { CryptoBackend } from './crypto_backend.js';
import { nobleBackend } from './noble.js';

/** Browsers get the audited pure-TypeScript primitives; randomness comes from crypto.getRandomValues. */
export const backend: CryptoBackend = nobleBackend;
