/** One IndexedDB object store used as a small key-value table. */
export class KeyValueDatabase {
  private constructor(private readonly db: IDBDatabase, private readonly table: string) {}

  static open(name: string, table: string): Promise<KeyValueDatabase> {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(table);
      request.onsuccess = () => resolve(new KeyValueDatabase(request.result, table));
      request.onerror = () => reject(request.error ?? new Error(`cannot open IndexedDB database ${name}`));
      request.onblocked = () => reject(new Error(`IndexedDB database ${name} is held by another tab`));
    });
  }

  get(key: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const request = this.db.transaction(this.table, 'readonly').objectStore(this.table).get(key);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error(`cannot read ${key}`));
    });
  }

  /** Resolves once the write is committed to disk ('strict' durability): one put, all or nothing. */
  put(key: string, value: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      const transaction = this.db.transaction(this.table, 'readwrite', { durability: 'strict' });
      transaction.objectStore(this.table).put(value, key);
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error ?? new Error(`cannot write ${key}`));
      transaction.onabort = () => reject(transaction.error ?? new Error(`write of ${key} aborted`));
    });
  }

  close(): void {
    this.db.close();
  }
}
