import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Sql } from './database.js';
import type { PidLock } from '@x3dh-iot/process-lock';
import { lockDataDir } from './data_dir_lock.js';

/**
 * Embedded PostgreSQL (PGlite, WASM) in a data directory on disk: the store when no database URL
 * is given. It runs the same SQL as PostgreSQL. It has a single connection, so transactions run
 * one at a time (PGlite queues them), and no lock of its own against a second process, hence
 * lockDataDir. Its writes reach the operating system when a transaction commits, so they survive a
 * kill of the server process (not a power loss: PGlite runs with fsync off).
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite';
  readonly maxConcurrency = 1;

  private constructor(private readonly db: PGlite, private readonly lock: PidLock) {}

  static async open(dataDir: string): Promise<PgliteDatabase> {
    const lock = lockDataDir(dataDir);
    try {
      const db = await PGlite.create({ dataDir: path.join(dataDir, 'pglite') });
      return new PgliteDatabase(db, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      const issued: Promise<unknown>[] = [];
      const result = await work({
        query: <Row>(text: string, params: readonly unknown[] = []) => {
          const statement = tx.query<Row>(text, params as unknown[]).then((r) => r.rows);
          statement.catch(() => {}); // reported by the transaction
          issued.push(statement);
          return statement;
        },
        exec: async (script: string) => { await tx.exec(script); },
      });
      // Statements issued without being awaited belong to the transaction too: wait before it commits.
      await Promise.all(issued);
      return result;
    });
  }

  /**
   * What autovacuum and the checkpointer do on PostgreSQL; PGlite runs no background workers, so
   * without it dead rows stay and the write-ahead log grows from start to stop (and all of it is
   * replayed after a kill). Blocks other statements meanwhile.
   */
  async maintain(): Promise<void> {
    await this.db.exec('VACUUM (ANALYZE)');
    await this.db.exec('CHECKPOINT');
  }

  async close(): Promise<void> {
    await this.db.close();
    this.lock.release();
  }
}
