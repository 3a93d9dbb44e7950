import type { Sql } from '../database.js';

/** One function per SQL statement on processed_requests, the record that makes processing exactly-once. */

/** Replies already sent for any of these request digests. */
export async function findProcessedReplies(sql: Sql, digests: readonly string[]): Promise<Map<string, string>> {
  const rows = await sql.query<{ digest: string; reply: string }>(
    'SELECT digest, reply FROM processed_requests WHERE digest = ANY($1::text[])', [digests]);
  return new Map(rows.map((row) => [row.digest, row.reply]));
}

/**
 * Records processed requests with their replies. A digest recorded before (a redelivery processed
 * concurrently, or earlier without being looked up) makes the statement fail: see isAlreadyRecorded.
 */
export async function insertProcessedReplies(
  sql: Sql, entries: readonly { digest: string; reply: string }[],
): Promise<void> {
  await sql.query(
    'INSERT INTO processed_requests (digest, reply) SELECT * FROM unnest($1::text[], $2::text[])',
    [entries.map((e) => e.digest), entries.map((e) => e.reply)]);
}

/** True for the failure of insertProcessedReplies on a request that was processed before. */
export function isAlreadyRecorded(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'processed_requests_pkey';
}

/** Forgets requests processed longer ago than `retentionSeconds`: redeliveries come much sooner. */
export async function purgeProcessedReplies(sql: Sql, retentionSeconds: number): Promise<number> {
  const rows = await sql.query(
    `DELETE FROM processed_requests WHERE processed_at < now() - make_interval(secs => $1) RETURNING 1`,
    [retentionSeconds]);
  return rows.length;
}
