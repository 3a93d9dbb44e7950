import type { Sql } from '../database.js';

/** One function per SQL statement on processed_requests, the record that makes processing exactly-once. */

/** Replies already sent for any of these request digests. */
export async function findProcessedReplies(sql: Sql, digests: readonly string[]): Promise<Map<string, string>> {
  const rows = await sql.query<{ digest: string; reply: string }>(
    'SELECT digest, reply FROM processed_requests WHERE digest = ANY($1::text[])', [digests]);
  return new Map(rows.map((row) => [row.digest, row.reply]));
}

/** Most records one INSERT writes: a longer batch is written by several. */
const RECORDS_PER_INSERT = 64;
/** INSERT texts by row count, built once each (a text built at every call is hashed again at every use). */
const insertTexts: string[] = [];

/**
 * The INSERT of `rows` records, two parameters each. Text arrays (one statement for any count) made
 * the driver escape every reply into an array literal and PostgreSQL parse it back: 1.5 times the
 * database's CPU time for the same seven records.
 */
function insertText(rows: number): string {
  insertTexts[rows] ??= `INSERT INTO processed_requests (digest, reply) VALUES ${
    Array.from({ length: rows }, (_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ')}`;
  return insertTexts[rows];
}

/**
 * Records processed requests with their replies. A digest recorded before (a redelivery processed
 * concurrently, or earlier without being looked up) makes the statement fail: see isAlreadyRecorded.
 */
export async function insertProcessedReplies(
  sql: Sql, entries: readonly { digest: string; reply: string }[],
): Promise<void> {
  const inserts: Promise<unknown>[] = [];
  for (let first = 0; first < entries.length; first += RECORDS_PER_INSERT) {
    const chunk = entries.slice(first, first + RECORDS_PER_INSERT);
    inserts.push(sql.query(insertText(chunk.length), chunk.flatMap((entry) => [entry.digest, entry.reply])));
  }
  await Promise.all(inserts);
}

/** True for the failure of insertProcessedReplies on a request that was processed before. */
export function isAlreadyRecorded(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'processed_requests_pkey';
}

/** Forgets up to `limit` requests processed longer ago than `retentionSeconds`, oldest first: redeliveries come much sooner; how many. */
export async function purgeProcessedReplies(sql: Sql, retentionSeconds: number, limit: number): Promise<number> {
  const rows = await sql.query(
    `DELETE FROM processed_requests WHERE digest = ANY(ARRAY(
       SELECT digest FROM processed_requests WHERE processed_at < now() - make_interval(secs => $1)
       ORDER BY processed_at LIMIT $2 FOR UPDATE SKIP LOCKED))
     RETURNING 1`,
    [retentionSeconds, limit]);
  return rows.length;
}
