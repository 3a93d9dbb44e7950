import type { Sql } from '../database.js';

/** One function per SQL statement on bundle_fetch_allowances: a token bucket per (requester, target). */

export interface Bucket {
  /** Tokens at most (and at first). */
  burst: number;
  /** Milliseconds per token refilled. */
  intervalMs: number;
}

/**
 * Takes one token from the (requester, target) bucket, refilled for the time elapsed, in one
 * statement (concurrent fetches see each other's takes). False, changing nothing, when less than
 * one token is left.
 */
export async function takeFetchToken(sql: Sql, requesterId: string, targetId: string, bucket: Bucket): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO bundle_fetch_allowances AS a (requester_id, target_id, tokens, updated_at)
     VALUES ($1::bigint, $2::bigint, $3::float8 - 1, now())
     ON CONFLICT (requester_id, target_id) DO UPDATE
       SET tokens = least($3::float8, a.tokens + extract(epoch FROM now() - a.updated_at) * 1000 / $4::float8) - 1,
           updated_at = now()
       WHERE least($3::float8, a.tokens + extract(epoch FROM now() - a.updated_at) * 1000 / $4::float8) >= 1
     RETURNING 1`,
    [requesterId, targetId, bucket.burst, bucket.intervalMs]);
  return rows.length === 1;
}

/** Milliseconds until the bucket holds one token again (0 when it does). */
export async function fetchTokenWaitMs(sql: Sql, requesterId: string, targetId: string, bucket: Bucket): Promise<number> {
  const rows = await sql.query<{ wait_ms: number }>(
    `SELECT greatest(0, (1 - least($3::float8, tokens + extract(epoch FROM now() - updated_at) * 1000 / $4::float8))
       * $4::float8)::float8 AS wait_ms
     FROM bundle_fetch_allowances WHERE requester_id = $1::bigint AND target_id = $2::bigint`,
    [requesterId, targetId, bucket.burst, bucket.intervalMs]);
  return Math.ceil(rows[0]?.wait_ms ?? 0);
}
