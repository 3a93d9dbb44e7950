import type { CryptoBackend } from './crypto_backend.js';
import { nobleBackend } from './noble.js';
import { createSodiumBackend, type SodiumNative } from './sodium.js';

/**
 * The backend every protocol function uses, chosen once at load: libsodium through sodium-native
 * when running in Node with a prebuilt binary for this platform, pure TypeScript otherwise
 * (browsers, musl, armv7). `X3DH_CRYPTO_BACKEND=noble|sodium-native` forces one.
 */
async function selectBackend(): Promise<CryptoBackend> {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined>; versions?: { node?: string } } })
    .process;
  const forced = env?.env?.['X3DH_CRYPTO_BACKEND'];
  if (forced === 'noble' || !env?.versions?.node) return nobleBackend;
  try {
    const { createRequire } = await import('node:module');
    const { hkdfSync } = await import('node:crypto');
    const sodium = createRequire(import.meta.url)('sodium-native') as SodiumNative;
    return createSodiumBackend(sodium, hkdfSync);
  } catch (error) {
    if (forced === 'sodium-native') throw error;
    return nobleBackend;
  }
}

export const backend: CryptoBackend = await selectBackend();
