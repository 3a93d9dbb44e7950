import fs from 'node:fs';
import path from 'node:path';
import type { PidLock } from '@x3dh-iot/process-lock';
import type { Logger } from 'pino';
import type { Database, Sql } from './database.js';
import { lockDataDir } from './data_dir_lock.js';
import { EmbeddedPostgres } from './embedded_postgres.js';
import { PostgresDatabase } from './postgres_database.js';

/** Connections the cluster accepts beyond the pool: an operator's psql, a maintenance script. */
const SPARE_CONNECTIONS = 3;

/**
 * The store when no database URL is given: PostgreSQL of the server's own in the data directory
 * (embedded_postgres.ts), used through the same pool as an external server. The data directory's
 * lock keeps a second server (or an operator command) from starting another postmaster on it.
 */
export class EmbeddedDatabase implements Database {
  readonly kind = 'embedded postgresql';

  private constructor(
    private readonly database: PostgresDatabase,
    private readonly cluster: EmbeddedPostgres,
    private readonly lock: PidLock,
  ) {}

  static async open(dataDir: string, options: { poolSize: number; connectTimeoutMs: number }, log: Logger): Promise<EmbeddedDatabase> {
    const lock = lockDataDir(dataDir);
    if (fs.existsSync(path.join(dataDir, 'pglite'))) {
      log.warn({ dir: path.join(dataDir, 'pglite') }, 'a store of the former embedded database (PGlite) is in the data directory and is not read');
    }
    try {
      const cluster = await EmbeddedPostgres.start(dataDir, { maxConnections: options.poolSize + SPARE_CONNECTIONS }, log);
      const database = new PostgresDatabase({ url: cluster.url, poolSize: options.poolSize, connectTimeoutMs: options.connectTimeoutMs }, log);
      return new EmbeddedDatabase(database, cluster, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  get maxConcurrency(): number {
    return this.database.maxConcurrency;
  }

  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    return this.database.transaction(work);
  }

  async close(): Promise<void> {
    try {
      await this.database.close();
      await this.cluster.stop();
    } finally {
      this.lock.release();
    }
  }
}
