import path from 'node:path';
import { PGlite, parse, protocol } from '@electric-sql/pglite';
import { concatBytes } from '@x3dh-iot/protocol';
import type { Database, Sql } from './database.js';
import type { PidLock } from '@x3dh-iot/process-lock';
import { lockDataDir } from './data_dir_lock.js';
import { isStorageFailure, StorageFailureError } from './database_errors.js';
import { restrictToOwner } from './owner_only.js';

const { serialize } = protocol;

/** Tables whose statistics autovacuum would refresh (its default threshold: 50 rows plus 10% changed since the last ANALYZE). */
const STALE_STATISTICS = `SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables
  WHERE last_analyze IS NULL OR n_mod_since_analyze > 50 + 0.1 * n_live_tup`;

/** A named prepared statement of the PGlite session, with the types PostgreSQL inferred for its parameters. */
interface PreparedStatement {
  name: string;
  parameterTypes: number[];
}

/**
 * Embedded PostgreSQL (PGlite, WASM) in a data directory on disk: the store when no database URL
 * is given. It runs the same SQL as PostgreSQL. It has a single connection, so transactions run
 * one at a time, and no lock of its own against a second process, hence lockDataDir. Its writes
 * reach the operating system when a transaction commits, so they survive a kill of the server
 * process (not a power loss: PGlite runs with fsync off).
 *
 * Statements are prepared once per text (named, over PGlite's wire-protocol interface) and then
 * only bound and executed: PGlite's own query() parses and plans every statement every time, which
 * in WASM costs several times the execution of the server's statements.
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite';
  readonly maxConcurrency = 1;
  private readonly statements = new Map<string, PreparedStatement>();

  private constructor(private readonly db: PGlite, private readonly lock: PidLock) {}

  static async open(dataDir: string): Promise<PgliteDatabase> {
    const lock = lockDataDir(dataDir);
    try {
      const storeDir = path.join(dataDir, 'pglite');
      const db = await PGlite.create({ dataDir: storeDir });
      restrictToOwner(storeDir);
      return new PgliteDatabase(db, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    // Exclusive: no other transaction, and no maintain(), while this one runs.
    return this.db.runExclusive(async () => {
      // PGlite's wire-protocol interface takes one exchange at a time: statements issued
      // together (a batch's requests) run one after another, in the order issued.
      let tail: Promise<unknown> = Promise.resolve();
      const issued: Promise<unknown>[] = [];
      const inTurn = <R>(step: () => Promise<R>): Promise<R> => {
        const run = tail.then(step, step);
        tail = run.catch(() => {});
        run.catch(() => {}); // reported by the transaction
        issued.push(run);
        return run;
      };
      await this.simpleQuery('BEGIN');
      try {
        const result = await work({
          query: <Row>(text: string, params: readonly unknown[] = []) => inTurn(() => this.execute<Row>(text, params)),
          exec: async (script: string) => { await inTurn(() => this.simpleQuery(script)); },
        });
        // Statements issued without being awaited belong to the transaction too: wait before it commits.
        await Promise.all(issued);
        // Every statement succeeded (a failed one rejected above), so COMMIT commits.
        await this.simpleQuery('COMMIT', true);
        return result;
      } catch (error) {
        await tail;
        await this.simpleQuery('ROLLBACK').catch(() => {});
        if (isStorageFailure(error)) throw new StorageFailureError(`embedded store: ${(error as Error).message}`, { cause: error });
        throw error;
      }
    });
  }

  /** Runs a statement in the current transaction, preparing it on first use; its rows. */
  private async execute<Row>(text: string, params: readonly unknown[]): Promise<Row[]> {
    const statement = this.statements.get(text) ?? await this.prepare(text);
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serializer = this.db.serializers[statement.parameterTypes[i]!];
      return serializer ? serializer(value) : String(value);
    });
    const { messages } = await this.db.execProtocol(concatBytes(
      serialize.bind({ statement: statement.name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync(),
    ), { syncToFs: false });
    return (parse.parseResults(messages, this.db.parsers)[0]?.rows ?? []) as Row[];
  }

  private async prepare(text: string): Promise<PreparedStatement> {
    const name = `s${this.statements.size}`;
    const { messages } = await this.db.execProtocol(concatBytes(
      serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync(),
    ), { syncToFs: false });
    const statement = { name, parameterTypes: parse.parseDescribeStatementResults(messages) };
    this.statements.set(text, statement);
    return statement;
  }

  /** A script without parameters over the simple query protocol (several statements allowed). */
  private async simpleQuery(script: string, syncToFs = false): Promise<void> {
    await this.db.execProtocol(serialize.query(script), { syncToFs });
  }

  /**
   * What autovacuum and the checkpointer do on PostgreSQL; PGlite runs no background workers, so
   * without it dead rows stay and the write-ahead log grows from start to stop (and all of it is
   * replayed after a kill). Blocks other statements meanwhile.
   *
   * Statistics are refreshed as autovacuum would, only for tables changed by more than 50 rows and
   * 10% since their last ANALYZE: an ANALYZE reads a sample of up to 30,000 rows per table, which
   * with 300,000 processed-request records took 230 of the 320 ms a run blocked when every run
   * analyzed every table.
   */
  async maintain(): Promise<void> {
    await this.db.exec('VACUUM');
    // This session's counts of changed rows reach the statistics views when flushed.
    await this.db.exec('SELECT pg_stat_force_next_flush()');
    const { rows } = await this.db.query<{ name: string }>(STALE_STATISTICS);
    for (const { name } of rows) await this.db.exec(`ANALYZE ${name}`);
    await this.db.exec('CHECKPOINT');
  }

  async close(): Promise<void> {
    await this.db.close();
    this.lock.release();
  }
}
