import type { Database, Sql } from './database.js';

/**
 * Rows one purge statement deletes at most. Each batch is a transaction of its own, so none holds
 * locks, write-ahead log or (on the embedded store) the only connection for longer than a batch,
 * however much expired at once (the cost of a batch: bench/scan_costs.ts, docs/capacity.md).
 */
export const PURGE_BATCH_ROWS = 1000;

/**
 * Purge batches of all replicas take turns: a batch deletes rows of many devices and then updates
 * their totals, and two such batches updating the same devices in different orders deadlock.
 */
const PURGE_LOCK_KEY = 0x78337075;

/**
 * Runs `batch` (one bounded DELETE of at most `limit` rows, returning how many it deleted) in
 * transactions of its own until one deletes fewer than `limit`: everything expired when the purge
 * began is then gone. Returns the rows deleted in all, and reports each batch to `onBatch`.
 */
export async function purgeInBatches(
  database: Database, batch: (sql: Sql, limit: number) => Promise<number>, limit = PURGE_BATCH_ROWS,
  onBatch?: (deleted: number) => void,
): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await database.transaction(async (sql) => {
      await sql.query('SELECT pg_advisory_xact_lock($1)', [PURGE_LOCK_KEY]);
      return batch(sql, limit);
    });
    onBatch?.(deleted);
    total += deleted;
    if (deleted < limit) return total;
  }
}
