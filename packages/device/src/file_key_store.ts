import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { emptyDeviceState, type DeviceState } from './device_state.js';
import { DeviceError } from './errors.js';
import type { KeyStore } from './key_store.js';
import { kdfSchema, PassphraseSeal, WrongPassphraseError, type ScryptParams } from './passphrase_seal.js';
import { stateFromJson, stateToJson } from './state_codec.js';
import { lockStore } from './store_lock.js';
import type { PidLock } from '@x3dh-iot/process-lock';

const FORMAT = 'x3dh-iot-device-store';
const VERSION = 1;

const documentSchema = z.union([
  z.object({ format: z.literal(FORMAT), version: z.literal(VERSION), state: z.unknown() }),
  z.object({
    format: z.literal(FORMAT), version: z.literal(VERSION),
    sealed: z.object({ kdf: kdfSchema, nonce: z.string(), ciphertext: z.string() }),
  }),
]);

export interface FileKeyStoreOptions {
  /**
   * Encrypts the file under this passphrase. A new store is created encrypted when one is given;
   * an encrypted store cannot be opened without it.
   */
  passphrase?: string | undefined;
  /** KDF cost for a newly encrypted store (tests lower it). */
  scrypt?: ScryptParams | undefined;
}

/**
 * The default key store: one JSON document, mode 0600, optionally sealed under a passphrase.
 * Every save writes a temporary file, syncs it, renames it over the old one and syncs the
 * directory, so a crash leaves the old or the new document, never a torn one. A lock file keeps
 * other processes out while the store is open.
 */
export class FileKeyStore implements KeyStore {
  private seal: PassphraseSeal | null = null;

  private constructor(readonly path: string, private readonly lock: PidLock, private readonly options: FileKeyStoreOptions) {}

  static async open(path: string, options: FileKeyStoreOptions = {}): Promise<FileKeyStore> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const store = new FileKeyStore(path, lockStore(`${path}.lock`), options);
    await store.removeAbandonedTemporaries();
    return store;
  }

  /** Whether the store at `path` exists and is sealed under a passphrase (without opening it). */
  static async isEncrypted(path: string): Promise<boolean> {
    try {
      return JSON.parse(await readFile(path, 'utf8'))?.sealed !== undefined;
    } catch {
      return false;
    }
  }

  async load(): Promise<DeviceState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyDeviceState();
      throw this.error(`cannot read: ${(error as Error).message}`, error);
    }
    let document: z.infer<typeof documentSchema>;
    try {
      document = documentSchema.parse(JSON.parse(text));
    } catch (error) {
      throw this.error('is corrupt: not a device key store document', error);
    }
    let stateJson: unknown;
    if ('sealed' in document) {
      if (this.options.passphrase === undefined) {
        throw this.error('is encrypted: a passphrase is needed (X3DH_PASSPHRASE or --passphrase-file)');
      }
      try {
        const opened = await PassphraseSeal.open(this.options.passphrase, document.sealed);
        this.seal = opened.seal;
        stateJson = JSON.parse(opened.plaintext);
      } catch (error) {
        if (error instanceof WrongPassphraseError) throw this.error(`cannot be opened: ${error.message}`, error);
        throw this.error('is corrupt: the sealed content cannot be read', error);
      }
    } else {
      stateJson = document.state;
    }
    try {
      return stateFromJson(stateJson);
    } catch (error) {
      throw this.error(`is corrupt: ${(error as Error).message}`, error);
    }
  }

  async save(state: DeviceState): Promise<void> {
    if (this.seal === null && this.options.passphrase !== undefined) {
      this.seal = await PassphraseSeal.create(this.options.passphrase, this.options.scrypt);
    }
    const stateJson = stateToJson(state);
    const document = this.seal
      ? { format: FORMAT, version: VERSION, sealed: this.seal.seal(JSON.stringify(stateJson)) }
      : { format: FORMAT, version: VERSION, state: stateJson };
    await this.writeAtomically(`${JSON.stringify(document, null, 2)}\n`);
  }

  async close(): Promise<void> {
    this.lock.release();
  }

  /**
   * write-file-atomic does the same temporary-file dance but does not sync the directory after the
   * rename, so after a power cut the rename itself could be lost; a key store must not go back in time.
   */
  private async writeAtomically(text: string): Promise<void> {
    const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temporary, this.path);
    } catch (error) {
      await unlink(temporary).catch(() => {});
      throw error;
    }
    const directory = await open(dirname(this.path), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** A process killed mid-save leaves its temporary file behind; with the lock held none is in use. */
  private async removeAbandonedTemporaries(): Promise<void> {
    const prefix = `${basename(this.path)}.`;
    for (const name of await readdir(dirname(this.path))) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) await unlink(join(dirname(this.path), name)).catch(() => {});
    }
  }

  private error(problem: string, cause?: unknown): DeviceError {
    return new DeviceError('KEY_STORE', `key store ${this.path} ${problem}`, { cause });
  }
}
