/** Runs one SQL statement inside the current transaction and returns its rows. */
export interface Sql {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/**
 * The store as the server sees it: transactions of plain SQL, on a PostgreSQL server or on the
 * server's own embedded PostgreSQL cluster.
 */
export interface Database {
  /** Human-readable backend name for logs: "postgresql" or "embedded postgresql". */
  readonly kind: string;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
   * Statements that `work` issued without awaiting them are part of the transaction too (on
   * PostgreSQL they travel with the COMMIT): if one fails, the transaction rolls back and this
   * rejects with its error.
   */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /** How many transactions may usefully run at once (the pool size). */
  readonly maxConcurrency: number;
  close(): Promise<void>;
}
