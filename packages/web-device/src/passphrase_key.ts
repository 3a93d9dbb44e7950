import { decodeBase64url, encodeBase64url, utf8 } from '@x3dh-iot/protocol';

/**
 * Encryption at rest in the browser: PBKDF2-HMAC-SHA-256 (Web Crypto has no memory-hard KDF)
 * derives a non-extractable AES-256-GCM key from the passphrase; the KDF description is the
 * associated data, so lowering the iteration count in storage makes the open fail.
 */
export interface KdfDescription {
  name: 'PBKDF2-SHA-256';
  iterations: number;
  /** base64url, 16 bytes. */
  salt: string;
}

export interface SealedRecord {
  kdf: KdfDescription;
  /** base64url, 12 bytes (AES-GCM). */
  iv: string;
  ciphertext: string;
}

/** The OWASP figure for PBKDF2-HMAC-SHA-256 (2023); about half a second in a desktop browser. */
export const PBKDF2_ITERATIONS = 600_000;
const SALT_BYTES = 16;
const IV_BYTES = 12;

export class WrongPassphraseError extends Error {
  constructor() {
    super('wrong passphrase (or the stored keys were altered)');
    this.name = 'WrongPassphraseError';
  }
}

/** Web Crypto takes bytes on an ArrayBuffer of their own. */
const own = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);

const associatedData = (kdf: KdfDescription) => own(utf8.encode(JSON.stringify(kdf)));

async function deriveKey(passphrase: string, kdf: KdfDescription): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', own(utf8.encode(passphrase.normalize('NFC'))), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: own(decodeBase64url(kdf.salt, 'salt')), iterations: kdf.iterations },
    material, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'],
  );
}

/** A passphrase turned into a key once; every save is sealed with a fresh IV under it. */
export class PassphraseKey {
  private constructor(private readonly kdf: KdfDescription, private readonly key: CryptoKey) {}

  static async create(passphrase: string, iterations = PBKDF2_ITERATIONS): Promise<PassphraseKey> {
    const kdf: KdfDescription = { name: 'PBKDF2-SHA-256', iterations, salt: encodeBase64url(crypto.getRandomValues(new Uint8Array(SALT_BYTES))) };
    return new PassphraseKey(kdf, await deriveKey(passphrase, kdf));
  }

  /** Opens a sealed record; the returned key seals with the record's salt and iteration count. */
  static async open(passphrase: string, sealed: SealedRecord): Promise<{ key: PassphraseKey; plaintext: string }> {
    const key = new PassphraseKey(sealed.kdf, await deriveKey(passphrase, sealed.kdf));
    try {
      const plaintext = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: own(decodeBase64url(sealed.iv, 'iv')), additionalData: associatedData(sealed.kdf) },
        key.key, own(decodeBase64url(sealed.ciphertext, 'ciphertext')),
      );
      return { key, plaintext: utf8.decode(new Uint8Array(plaintext)) };
    } catch {
      throw new WrongPassphraseError();
    }
  }

  async seal(plaintext: string): Promise<SealedRecord> {
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const ciphertext = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: associatedData(this.kdf) }, this.key, own(utf8.encode(plaintext)),
    );
    return { kdf: this.kdf, iv: encodeBase64url(iv), ciphertext: encodeBase64url(new Uint8Array(ciphertext)) };
  }
}
