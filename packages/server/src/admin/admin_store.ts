import { Command, Option } from 'commander';
import type { Database } from '../storage/database.js';
import { DataDirLockedError } from '../storage/data_dir_lock.js';
import { migrate } from '../storage/migrate.js';
import { EmbeddedDatabase } from '../storage/embedded_database.js';
import { PostgresDatabase } from '../storage/postgres_database.js';
import { databaseTls } from '../storage/database_tls.js';
import { createLogger } from '../ops/logger.js';
import { commandLineActor } from './operator_actor.js';
import { OperatorError } from './operator_error.js';
import { runOperatorOperation, type OperatorInput, type OperatorOperation, type OperatorResult } from './operator_operations.js';
import { callOperatorSocket, OperatorSocketUnavailableError } from './operator_socket.js';

export interface StoreOptions {
  databaseUrl?: string | undefined;
  databaseCa?: string | undefined;
  databaseCert?: string | undefined;
  databaseKey?: string | undefined;
  allowInsecureDatabase?: boolean | undefined;
  dataDir: string;
}

/** The store flags of every operator command: the same flags and variables as the server's. */
export function withStoreOptions(command: Command): Command {
  return command
    .addOption(new Option('--database-url <url>', 'PostgreSQL URL; default: embedded PostgreSQL in --data-dir').env('X3DH_DATABASE_URL'))
    .addOption(new Option('--database-ca <file>', 'PEM CA the database server\'s certificate must chain to').env('X3DH_DATABASE_CA'))
    .addOption(new Option('--database-cert <file>', 'PEM client certificate for the database').env('X3DH_DATABASE_CERT'))
    .addOption(new Option('--database-key <file>', 'PEM key of --database-cert').env('X3DH_DATABASE_KEY'))
    .addOption(new Option('--allow-insecure-database', 'allow a database beyond loopback without TLS certificate verification').env('X3DH_ALLOW_INSECURE_DATABASE'))
    .addOption(new Option('--data-dir <dir>', 'data directory of the embedded store (through the key server while one runs on it)')
      .env('X3DH_DATA_DIR').default('.x3dh/data'));
}

/**
 * Opens the key server's store and brings its schema up to date (an operator may issue tokens
 * before the first start). The embedded store of a running key server is refused (DataDirLockedError).
 */
async function open(options: StoreOptions): Promise<Database> {
  const files = { caFile: options.databaseCa, certFile: options.databaseCert, keyFile: options.databaseKey };
  const log = createLogger('silent');
  const database = options.databaseUrl !== undefined
    ? new PostgresDatabase({
      url: options.databaseUrl, ssl: databaseTls(options.databaseUrl, files, options.allowInsecureDatabase === true), poolSize: 1, connectTimeoutMs: 10_000,
    }, log)
    : await EmbeddedDatabase.open(options.dataDir, { poolSize: 1, connectTimeoutMs: 10_000 }, log);
  try {
    await migrate(database);
    return database;
  } catch (error) {
    await database.close();
    throw error;
  }
}

/**
 * Runs one operator operation on the store: in a transaction of its own on a store it can open,
 * or, while a key server holds the embedded store, by that server (operator_socket.ts).
 */
export async function runOnStore<O extends OperatorOperation>(
  options: StoreOptions, operation: O, input: OperatorInput<O>,
): Promise<OperatorResult<O>> {
  let database: Database;
  try {
    database = await open(options);
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    // The key server answers with what the operation returns there.
    return runByHolder(error, operation, input) as Promise<OperatorResult<O>>;
  }
  try {
    return await database.transaction((sql) => runOperatorOperation(sql, operation, input, commandLineActor()));
  } finally {
    await database.close();
  }
}

async function runByHolder(locked: DataDirLockedError, operation: OperatorOperation, input: unknown): Promise<unknown> {
  try {
    return await callOperatorSocket(locked.dataDir, operation, input);
  } catch (error) {
    if (!(error instanceof OperatorSocketUnavailableError)) throw error;
    // The embedded cluster runs only while its server holds the data directory: that server is the way in.
    throw new OperatorError(`the embedded store in ${locked.dataDir} is in use by process ${locked.holderPid ?? '?'}, ` +
      `which takes no operator commands (${error.reason}): stop it first, or run the key ` +
      'server on PostgreSQL (--database-url), where operator commands can run while it serves');
  }
}
