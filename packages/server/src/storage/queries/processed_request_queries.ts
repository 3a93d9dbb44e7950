import type { Sql } from '../database.js';

/** One function per SQL statement on processed_requests, the record that makes processing exactly-once. */

/** Replies already sent for any of these request digests. */
export async function findProcessedReplies(sql: Sql, digests: readonly string[]): Promise<Map<string, string>> {
  const rows = await sql.query<{ digest: string; reply: string }>(
    'SELECT digest, reply FROM processed_requests WHERE digest = ANY($1::text[])', [digests]);
  return new Map(rows.map((row) => [row.digest, row.reply]));
}

/**
 * Records processed requests with their replies. Returns how many were new: fewer than given means
 * another transaction processed one of them concurrently, and this transaction must not commit.
 */
export async function insertProcessedReplies(
  sql: Sql, entries: readonly { digest: string; reply: string }[],
): Promise<number> {
  const rows = await sql.query(
    `INSERT INTO processed_requests (digest, reply)
     SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (digest) DO NOTHING RETURNING 1`,
    [entries.map((e) => e.digest), entries.map((e) => e.reply)]);
  return rows.length;
}

/** Forgets requests processed longer ago than `retentionSeconds`: redeliveries come much sooner. */
export async function purgeProcessedReplies(sql: Sql, retentionSeconds: number): Promise<number> {
  const rows = await sql.query(
    `DELETE FROM processed_requests WHERE processed_at < now() - make_interval(secs => $1) RETURNING 1`,
    [retentionSeconds]);
  return rows.length;
}
