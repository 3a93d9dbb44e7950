import { randomBytes, scrypt } from 'node:crypto';
import { aeadDecrypt, aeadEncrypt, decodeBase64url, encodeBase64url, randomAeadNonce, utf8 } from '@x3dh-iot/protocol';
import { z } from 'zod';

/**
 * Encryption at rest under a passphrase: scrypt (memory-hard) derives the key, XChaCha20-Poly1305
 * seals the document. The KDF parameters are authenticated as associated data, so an attacker
 * cannot weaken them in the file without the open failing.
 */
export interface ScryptParams {
  /** CPU/memory cost, a power of two; memory used is 128 * N * r bytes. */
  N: number;
  r: number;
  p: number;
}

/** 128 MiB and about half a second per unlock on a small machine. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

export const kdfSchema = z.object({
  name: z.literal('scrypt'),
  N: z.number().int().min(2).max(2 ** 24).refine((n) => (n & (n - 1)) === 0, { error: 'must be a power of two' }),
  r: z.number().int().min(1).max(64),
  p: z.number().int().min(1).max(16),
  salt: z.string(),
});
export type KdfDescription = z.infer<typeof kdfSchema>;

export interface SealedDocument {
  kdf: KdfDescription;
  nonce: string;
  ciphertext: string;
}

export class WrongPassphraseError extends Error {
  constructor() {
    super('wrong passphrase (or the file was altered)');
    this.name = 'WrongPassphraseError';
  }
}

function deriveKey(passphrase: string, kdf: KdfDescription): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), decodeBase64url(kdf.salt, 'salt'), 32,
      { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(new Uint8Array(key))));
  });
}

const associatedData = (kdf: KdfDescription) => utf8.encode(JSON.stringify(kdf));

/**
 * A passphrase turned into a key once (the KDF is slow on purpose), then used for every save.
 * A new salt is chosen when a store is first sealed; opening keeps the file's salt and parameters.
 */
export class PassphraseSeal {
  private constructor(private readonly kdf: KdfDescription, private readonly key: Uint8Array) {}

  static async create(passphrase: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<PassphraseSeal> {
    const kdf: KdfDescription = { name: 'scrypt', ...params, salt: encodeBase64url(randomBytes(16)) };
    return new PassphraseSeal(kdf, await deriveKey(passphrase, kdf));
  }

  /** Opens a sealed document; the returned seal saves with the same salt and parameters. */
  static async open(passphrase: string, sealed: SealedDocument): Promise<{ seal: PassphraseSeal; plaintext: string }> {
    const kdf = sealed.kdf;
    const key = await deriveKey(passphrase, kdf);
    let plaintext: Uint8Array;
    try {
      plaintext = aeadDecrypt(key, decodeBase64url(sealed.nonce, 'nonce'), decodeBase64url(sealed.ciphertext, 'ciphertext'),
        associatedData(kdf));
    } catch {
      throw new WrongPassphraseError();
    }
    return { seal: new PassphraseSeal(kdf, key), plaintext: utf8.decode(plaintext) };
  }

  seal(plaintext: string): SealedDocument {
    const nonce = randomAeadNonce();
    const ciphertext = aeadEncrypt(this.key, nonce, utf8.encode(plaintext), associatedData(this.kdf));
    return { kdf: this.kdf, nonce: encodeBase64url(nonce), ciphertext: encodeBase64url(ciphertext) };
  }
}
