/** Runs one SQL statement inside the current transaction and returns its rows. */
export interface Sql {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/**
 * The store as the server sees it: transactions of plain SQL. PostgreSQL and embedded PGlite run
 * the same statements, so this is the only seam between them.
 */
export interface Database {
  /** Human-readable backend name for logs: "postgresql" or "pglite". */
  readonly kind: string;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
   * Statements that `work` issued without awaiting them are part of the transaction too (on
   * PostgreSQL they travel with the COMMIT): if one fails, the transaction rolls back and this
   * rejects with its error.
   */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /** How many transactions may usefully run at once (the pool size; 1 for PGlite). */
  readonly maxConcurrency: number;
  /**
   * Housekeeping the backend does not do by itself, run periodically by the server: PGlite has no
   * autovacuum and no checkpointer, so without it deleted rows (handed-out prekeys, delivered
   * messages, purged records) would stay in tables and indexes forever, the planner's statistics
   * would never change, and the write-ahead log would grow until the server stops.
   */
  maintain(): Promise<void>;
  close(): Promise<void>;
}
