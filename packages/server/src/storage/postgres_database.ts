import pg from 'pg';
import type { Logger } from 'pino';
import type { Database, Sql } from './database.js';
import type { DatabaseTls } from './database_tls.js';
import { DatabaseUnavailableError, isConnectionFailure, isStorageFailure, StorageFailureError } from './database_errors.js';
import { parsePostgresHosts, type PostgresHosts } from './postgres_hosts.js';
import { StatementGroup, type GroupedStatement, type RowShape } from './statement_group.js';

export interface PostgresOptions {
  /** One host, or several (libpq's multi-host form, see postgres_hosts) of which one is used at a time. */
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
 *
 * With several hosts (a primary and its standbys), the pool connects to one at a time, chosen as
 * libpq does: the first, in the order given, that accepts a connection and, with
 * `target_session_attrs=read-write`, takes writes. When a connection to it fails, or it turns out
 * read-only (demoted), the pool is dropped and the next transaction chooses again, so that the
 * server follows a promoted standby. Transactions failing meanwhile are "unavailable" (retryable).
 */
export class PostgresDatabase implements Database {
  readonly kind = 'postgresql';
  private readonly hosts: PostgresHosts;
  /** Null until chosen, and again after the host in use failed (several hosts only). */
  private pool: pg.Pool | null = null;
  private choosing: Promise<pg.Pool> | null = null;
  /** Where the next choice starts: the host after the one that failed. */
  private firstHost = 0;
  private readonly statementNames = new Map<string, string>();
  private readonly rowShapes = new Map<string, RowShape>();

  constructor(private readonly options: PostgresOptions, private readonly log: Logger) {
    this.hosts = parsePostgresHosts(options.url);
    if (!this.choosesHost) this.pool = this.openPool(this.hosts.urls[0]!);
  }

  /** One host taken as it is, as the driver would; otherwise each connection choice is checked. */
  private get choosesHost(): boolean {
    return this.hosts.urls.length > 1 || this.hosts.targetSessionAttrs !== 'any';
  }

  private openPool(url: string): pg.Pool {
    const pool = new pg.Pool({
      connectionString: url,
      ...(this.options.ssl ? { ssl: this.options.ssl } : {}),
      max: this.options.poolSize,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      // Statements issued together (a batch's requests) are sent back to back, not one per round trip.
      pipeline: true,
    });
    // An idle connection that dies (server restart) must not crash the process; the pool replaces it.
    pool.on('error', (error) => this.log.warn({ err: error }, 'idle database connection lost'));
    return pool;
  }

  get maxConcurrency(): number {
    return this.options.poolSize;
  }

  private currentPool(): Promise<pg.Pool> {
    if (this.pool !== null) return Promise.resolve(this.pool);
    this.choosing ??= this.chooseHost().finally(() => { this.choosing = null; });
    return this.choosing;
  }

  /** Tries each host in turn; throws "unavailable" when none fits (all down, or only standbys). */
  private async chooseHost(): Promise<pg.Pool> {
    const errors: Error[] = [];
    const count = this.hosts.urls.length;
    for (let i = 0; i < count; i += 1) {
      const index = (this.firstHost + i) % count;
      const name = this.hosts.names[index]!;
      try {
        await this.checkHost(this.hosts.urls[index]!);
      } catch (error) {
        errors.push(Object.assign(new Error(`${name}: ${(error as Error).message}`, { cause: error }), { code: (error as { code?: unknown }).code }));
        continue;
      }
      this.firstHost = index;
      this.pool = this.openPool(this.hosts.urls[index]!);
      this.log.info({ host: name, targetSessionAttrs: this.hosts.targetSessionAttrs }, 'database host chosen');
      return this.pool;
    }
    throw new DatabaseUnavailableError(`database unreachable: no ${this.hosts.targetSessionAttrs === 'any' ? '' : 'read-write '}host among ` +
      `${this.hosts.names.join(', ')} (${errors.map((error) => error.message).join('; ')})`, { cause: new AggregateError(errors) });
  }

  /** Connects once; with read-write wanted, a host in recovery or read-only by default is refused (SQLSTATE 25006). */
  private async checkHost(url: string): Promise<void> {
    const client = new pg.Client({
      connectionString: url, ...(this.options.ssl ? { ssl: this.options.ssl } : {}), connectionTimeoutMillis: this.options.connectTimeoutMs,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      if (this.hosts.targetSessionAttrs === 'any') return;
      const { rows } = await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
      if (rows[0]?.transaction_read_only !== 'off') throw Object.assign(new Error('read-only (a standby)'), { code: '25006' });
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** The host in use failed: the next transaction chooses again, starting with the following host. */
  private dropHost(pool: pg.Pool, error: Error): void {
    if (!this.choosesHost || this.pool !== pool) return;
    this.pool = null;
    this.firstHost = (this.firstHost + 1) % this.hosts.urls.length;
    this.log.warn({ err: error, host: this.hosts.names[(this.firstHost + this.hosts.urls.length - 1) % this.hosts.urls.length] },
      'database host failed: choosing a host again');
    pool.end().catch(() => {});
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
    const pool = await this.currentPool();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      const unavailable = new DatabaseUnavailableError(`database unreachable: ${(error as Error).message}`, { cause: error });
      this.dropHost(pool, unavailable);
      throw unavailable;
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
      if (error instanceof DatabaseUnavailableError && !(error instanceof StorageFailureError)) this.dropHost(pool, error);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.choosing?.catch(() => {});
    await this.pool?.end();
    this.pool = null;
  }
}

/**
 * A connection that failed makes the request retryable ("unavailable"), and so does a write refused
 * because the host has become a standby (SQLSTATE 25006: the primary changed); any other error
 * stays as it is.
 */
function rethrowAsUnavailable(error: unknown): never {
  if (isStorageFailure(error)) throw new StorageFailureError(`database storage failed: ${(error as Error).message}`, { cause: error });
  if ((error as { code?: unknown } | null)?.code === '25006') {
    throw new DatabaseUnavailableError(`database host is read-only (no longer the primary?): ${(error as Error).message}`, { cause: error });
  }
  if (isConnectionFailure(error)) {
    throw new DatabaseUnavailableError(`database connection lost: ${(error as Error).message}`, { cause: error });
  }
  throw error;
}
