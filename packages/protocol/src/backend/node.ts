import { createRequire } from 'node:module';
import { createHmac, hkdfSync } from 'node:crypto';
import type { CryptoBackend } from './crypto_backend.js';
import { nobleBackend } from './noble.js';
import { createSodiumBackend, type SodiumNative } from './sodium.js';

/**
 * In Node: libsodium through sodium-native when a prebuilt binary exists for this platform
 * (glibc x64/arm64, macOS, Windows), pure TypeScript otherwise (musl, armv7).
 * `X3DH_CRYPTO_BACKEND=noble|sodium-native` forces one.
 */
function selectBackend(): CryptoBackend {
  const forced = process.env['X3DH_CRYPTO_BACKEND'];
  if (forced === 'noble') return nobleBackend;
  if (forced !== undefined && forced !== 'sodium-native') {
    throw new Error(`X3DH_CRYPTO_BACKEND must be noble or sodium-native, got ${JSON.stringify(forced)}`);
  }
  try {
    const sodium = createRequire(import.meta.url)('sodium-native') as SodiumNative;
    return createSodiumBackend(sodium, { hkdfSync, createHmac });
  } catch (error) {
    if (forced === 'sodium-native') throw error;
    return nobleBackend;
  }
}

export const backend: CryptoBackend = selectBackend();
