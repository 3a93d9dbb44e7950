import { Command, Option } from 'commander';
import type { Database } from '../storage/database.js';
import { DataDirLockedError } from '../storage/data_dir_lock.js';
import { migrate } from '../storage/migrate.js';
import { PgliteDatabase } from '../storage/pglite_database.js';
import { PostgresDatabase } from '../storage/postgres_database.js';
import { createLogger } from '../ops/logger.js';
import { OperatorError } from './operator_error.js';

export interface StoreOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
}

/** The store flags of every operator command: the same flags and variables as the server's. */
export function withStoreOptions(command: Command): Command {
  return command
    .addOption(new Option('--database-url <url>', 'PostgreSQL URL; default: embedded PGlite in --data-dir').env('X3DH_DATABASE_URL'))
    .addOption(new Option('--data-dir <dir>', 'data directory of the embedded store (the key server must be stopped)')
      .env('X3DH_DATA_DIR').default('.x3dh/data'));
}

async function open(options: StoreOptions): Promise<Database> {
  if (options.databaseUrl !== undefined) {
    return new PostgresDatabase({ url: options.databaseUrl, poolSize: 1, connectTimeoutMs: 10_000 }, createLogger('silent'));
  }
  try {
    return await PgliteDatabase.open(options.dataDir);
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      // PGlite is a single process's database: a second writer would corrupt it.
      throw new OperatorError(`the embedded store in ${options.dataDir} is in use by a running key server ` +
        `(pid ${error.holderPid ?? '?'}): stop the server first, or run it on PostgreSQL (--database-url), ` +
        'where operator commands can run while it serves');
    }
    throw error;
  }
}

/**
 * Opens the key server's store, brings its schema up to date (an operator may issue tokens before
 * the first start), runs `work` and closes the store again.
 */
export async function withStore<T>(options: StoreOptions, work: (database: Database) => Promise<T>): Promise<T> {
  const database = await open(options);
  try {
    await migrate(database);
    return await work(database);
  } finally {
    await database.close();
  }
}
