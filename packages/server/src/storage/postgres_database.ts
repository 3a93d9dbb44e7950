import pg from 'pg';
import type { Logger } from 'pino';
import type { Database, Sql } from './database.js';
import type { DatabaseTls } from './database_tls.js';
import { DatabaseUnavailableError, isConnectionFailure, isStorageFailure, StorageFailureError } from './database_errors.js';
import { StatementGroup, type GroupedStatement, type RowShape } from './statement_group.js';

export interface PostgresOptions {
  url: string;
  /** TLS with certificate verification, when not set by the URL itself (database_tls). */
  ssl?: DatabaseTls | undefined;
  poolSize: number;
  /** How long a transaction waits for a pooled connection before the request is answered "unavailable". */
  connectTimeoutMs: number;
}

/**
 * PostgreSQL through a `pg` pool. Statements are prepared per connection (named by their text),
 * which roughly doubles the rate of small queries.
 */
export class PostgresDatabase implements Database {
  readonly kind = 'postgresql';
  private readonly pool: pg.Pool;
  private readonly statementNames = new Map<string, string>();
  private readonly rowShapes = new Map<string, RowShape>();

  constructor(options: PostgresOptions, log: Logger) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      ...(options.ssl ? { ssl: options.ssl } : {}),
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs,
      // Statements issued together (a batch's requests) are sent back to back, not one per round trip.
      pipeline: true,
    });
    // An idle connection that dies (server restart) must not crash the process; the pool replaces it.
    this.pool.on('error', (error) => log.warn({ err: error }, 'idle database connection lost'));
  }

  get maxConcurrency(): number {
    return this.pool.options.max;
  }

  private statementName(text: string): string {
    let name = this.statementNames.get(text);
    if (name === undefined) {
      name = `s${this.statementNames.size}`;
      this.statementNames.set(text, name);
    }
    return name;
  }

  async transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw new DatabaseUnavailableError(`database unreachable: ${(error as Error).message}`, { cause: error });
    }
    // A connection that drops while checked out emits 'error' besides failing its query; unheard,
    // that event would end the process. The failed query reports it.
    const ignore = () => {};
    client.on('error', ignore);
    let uncertain = false;
    const release = (broken: boolean) => {
      client.off('error', ignore);
      client.release(broken || uncertain);
    };
    let open = true;
    const issued: Promise<unknown>[] = [];
    // Statements issued in one turn of the event loop (a batch's requests, each at the same step)
    // go out as one group: one socket write and one Sync (see StatementGroup).
    let pending: GroupedStatement[] = [];
    const send = () => {
      const group = pending;
      pending = [];
      if (group.length > 0) client.query(new StatementGroup(group, this.rowShapes, () => { uncertain = true; }));
    };
    const closed = () => new Error('statement issued after its transaction ended');
    const run = (text: string, params: readonly unknown[]): Promise<Record<string, unknown>[]> => {
      if (!open) return Promise.reject(closed());
      return new Promise<Record<string, unknown>[]>((resolve, reject) => {
        if (pending.length === 0) process.nextTick(send);
        pending.push({ name: this.statementName(text), text, values: params, resolve, reject });
      }).catch(rethrowAsUnavailable);
    };
    const sql: Sql = {
      query: <Row>(text: string, params: readonly unknown[] = []) => {
        const statement = run(text, params) as Promise<Row[]>;
        // Handled here, so that a failure of a statement nobody awaits does not end the process;
        // the transaction reports it.
        statement.catch(() => {});
        issued.push(statement);
        return statement;
      },
      // A script of several statements needs the simple query protocol; it follows what was issued before it.
      exec: async (script: string) => {
        if (!open) throw closed();
        send();
        await client.query(script).catch(rethrowAsUnavailable);
      },
    };
    try {
      // BEGIN goes out in the same group as the work's first statements; both settle before anything else.
      const [begun, done] = await Promise.allSettled([run('BEGIN', []), work(sql)]);
      if (begun.status === 'rejected') throw begun.reason;
      if (done.status === 'rejected') throw done.reason;
      const result = done.value;
      // COMMIT goes out right behind statements still in flight; after a failed one it is a ROLLBACK.
      const [committed, ...statements] = await Promise.allSettled([run('COMMIT', []), ...issued]);
      open = false;
      const failed = statements.find((statement) => statement.status === 'rejected');
      if (failed) throw failed.reason;
      if (committed.status === 'rejected') throw committed.reason;
      release(false);
      return result;
    } catch (error) {
      open = false;
      // A connection that failed is dropped from the pool rather than handed to the next request.
      const broken = error instanceof DatabaseUnavailableError ||
        !(await client.query('ROLLBACK').then(() => true, () => false));
      release(broken);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** A connection that failed makes the request retryable ("unavailable"); any other error stays as it is. */
function rethrowAsUnavailable(error: unknown): never {
  if (isStorageFailure(error)) throw new StorageFailureError(`database storage failed: ${(error as Error).message}`, { cause: error });
  if (isConnectionFailure(error)) {
    throw new DatabaseUnavailableError(`database connection lost: ${(error as Error).message}`, { cause: error });
  }
  throw error;
}
