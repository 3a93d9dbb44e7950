import { emptyDeviceState, stateFromJson, stateToJson, type DeviceState, type KeyStore } from '@x3dh-iot/device/browser';
import { z } from 'zod';
import type { KeyValueDatabase } from './indexed_db.js';
import { PassphraseKey, type SealedRecord } from './passphrase_key.js';

const STATE_KEY = 'state';

const sealedSchema = z.strictObject({
  kdf: z.strictObject({ name: z.literal('PBKDF2-SHA-256'), iterations: z.number().int().min(100_000).max(10_000_000), salt: z.string() }),
  iv: z.string(),
  ciphertext: z.string(),
});

/**
 * The device state in the browser's IndexedDB, sealed under a passphrase (passphrase_key): the
 * private keys never reach storage in clear. A save is one IndexedDB put, so it is atomic.
 */
export class IndexedDbKeyStore implements KeyStore {
  private constructor(private readonly db: KeyValueDatabase, private readonly key: PassphraseKey, private saved: DeviceState) {}

  /** Opens the saved state with the passphrase (WrongPassphraseError if it does not open it), or starts an empty one. */
  static async open(db: KeyValueDatabase, passphrase: string, iterations?: number): Promise<IndexedDbKeyStore> {
    const stored = await db.get(STATE_KEY);
    if (stored === undefined) return new IndexedDbKeyStore(db, await PassphraseKey.create(passphrase, iterations), emptyDeviceState());
    const sealed = sealedSchema.safeParse(stored);
    if (!sealed.success) throw new Error(`the stored device keys are damaged: ${sealed.error.issues[0]!.message}`);
    const { key, plaintext } = await PassphraseKey.open(passphrase, sealed.data as SealedRecord);
    return new IndexedDbKeyStore(db, key, stateFromJson(JSON.parse(plaintext)));
  }

  /** Whether a device is saved in this browser (nothing is decrypted). */
  static async exists(db: KeyValueDatabase): Promise<boolean> {
    return (await db.get(STATE_KEY)) !== undefined;
  }

  async load(): Promise<DeviceState> {
    return structuredClone(this.saved);
  }

  async save(state: DeviceState): Promise<void> {
    await this.db.put(STATE_KEY, await this.key.seal(JSON.stringify(stateToJson(state))));
    this.saved = structuredClone(state);
  }

  async close(): Promise<void> {}
}
