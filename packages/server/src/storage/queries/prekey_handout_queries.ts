import type { Sql } from '../database.js';

/**
 * One function per SQL statement on one_time_prekey_handouts: which one-time prekeys v2 bundle
 * fetches handed out, kept until the device has deleted their private keys (docs/protocol-v2.md
 * section 6.4). The hand-out itself records them (fetch_allowance_queries.ts).
 */

export interface HandOutRow {
  key_id: number;
  /** Milliseconds since the epoch, by the database's clock. */
  handed_out_at: number;
}

/** The device's hand-outs, oldest (lowest key id, handed out first) first, at most `limit`. */
export async function listHandOuts(sql: Sql, deviceId: string, limit: number): Promise<HandOutRow[]> {
  return sql.query<HandOutRow>(
    `SELECT key_id, (extract(epoch FROM handed_out_at) * 1000)::float8 AS handed_out_at FROM one_time_prekey_handouts
     WHERE user_id = $1::bigint ORDER BY key_id LIMIT $2::integer`,
    [deviceId, limit]);
}

/** Forgets the device's hand-outs of key ids up to `throughId`, whose private keys the device has deleted. */
export async function forgetHandOuts(sql: Sql, deviceId: string, throughId: number): Promise<void> {
  await sql.query('DELETE FROM one_time_prekey_handouts WHERE user_id = $1::bigint AND key_id <= $2::integer', [deviceId, throughId]);
}

/**
 * Forgets at most `limit` hand-outs older than `keepSeconds` on the server's clock `now` (ms): of
 * devices that never came to delete them. Returns how many.
 */
export async function purgeHandOuts(sql: Sql, now: number, keepSeconds: number, limit: number): Promise<number> {
  const rows = await sql.query(
    `DELETE FROM one_time_prekey_handouts WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM one_time_prekey_handouts
       WHERE handed_out_at < to_timestamp($1::float8 / 1000) - make_interval(secs => $2::float8)
       ORDER BY handed_out_at LIMIT $3 FOR UPDATE SKIP LOCKED))
     RETURNING 1`,
    [now, keepSeconds, limit]);
  return rows.length;
}
