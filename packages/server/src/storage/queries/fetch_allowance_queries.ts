import type { Sql } from '../database.js';
import { recordedRequestIdCte, requestIdParams, type RequestIdGate } from './request_id_queries.js';

/** The SQL statement of a v2 bundle hand-out, with its token bucket per (requester, target) on bundle_fetch_allowances. */

export interface Bucket {
  /** Tokens at most (and at first). */
  burst: number;
  /** Milliseconds per token refilled. */
  intervalMs: number;
}

export interface BundleHandOutRow {
  /** The request id was recorded; else nothing happened and every other column is null. */
  request_recorded: boolean;
  /** Null for a name never registered. */
  id: string | null;
  identity_key: Uint8Array;
  deleted: boolean | null;
  signed_prekey_id: number | null;
  signed_prekey: Uint8Array | null;
  signed_prekey_signature: Uint8Array | null;
  /** A token was taken from the bucket (only when the target has a v2 bundle). */
  token_taken: boolean | null;
  /** Milliseconds until the bucket holds one token again, when no token was taken. */
  wait_ms: number | null;
  key_id: number | null;
  public_key: Uint8Array | null;
  /**
   * One-time prekeys the target has left after this claim, when a token was taken; counted only
   * up to the low-stock threshold, so a larger stock reads as the threshold or more.
   */
  stock_left: number | null;
}

/**
 * The bucket's tokens now. A transaction's now() is its start: one that started earlier may find the
 * bucket written by one that started later, and that (negative) time counts as none.
 */
const REFILLED = 'least($3::float8, a.tokens + greatest(0, extract(epoch FROM now() - a.updated_at)) * 1000 / $4::float8)';

/** The statement of handOutBundleRow, built once (a text built at every call is hashed again at every use). */
const HAND_OUT_BUNDLE = `WITH ${recordedRequestIdCte(5)}, target AS (
    SELECT id, identity_key, deleted_at IS NOT NULL AS deleted, signed_prekey_id, signed_prekey, signed_prekey_signature
    FROM users WHERE username = $2 AND EXISTS (SELECT 1 FROM recorded)
  ), token AS (
    INSERT INTO bundle_fetch_allowances AS a (requester_id, target_id, tokens, updated_at)
    SELECT $1::bigint, id, $3::float8 - 1, now() FROM target
    WHERE NOT deleted AND signed_prekey_id IS NOT NULL AND signed_prekey IS NOT NULL AND signed_prekey_signature IS NOT NULL
    ON CONFLICT (requester_id, target_id) DO UPDATE
      SET tokens = ${REFILLED} - 1, updated_at = greatest(a.updated_at, now())
      WHERE ${REFILLED} >= 1
    RETURNING target_id
  ), claimed AS (
    DELETE FROM one_time_prekeys WHERE id = (
      SELECT o.id FROM one_time_prekeys o WHERE o.user_id = (SELECT target_id FROM token)
      ORDER BY o.id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING key_id, public_key
  )
  SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded, b.* FROM (SELECT 1) AS one LEFT JOIN (
  SELECT t.id::text AS id, t.identity_key, t.deleted, t.signed_prekey_id, t.signed_prekey, t.signed_prekey_signature,
    taken.yes AS token_taken,
    CASE WHEN taken.yes THEN NULL ELSE coalesce((
      SELECT greatest(0, (1 - ${REFILLED}) * $4::float8)::float8
      FROM bundle_fetch_allowances a WHERE a.requester_id = $1::bigint AND a.target_id = t.id), 0) END AS wait_ms,
    c.key_id, c.public_key,
    CASE WHEN taken.yes THEN (
      (SELECT count(*) FROM (SELECT 1 FROM one_time_prekeys WHERE user_id = t.id LIMIT $13::integer + 1) AS counted)
      - (SELECT count(*) FROM claimed))::integer END AS stock_left
  FROM target t CROSS JOIN (SELECT EXISTS (SELECT 1 FROM token) AS yes) taken LEFT JOIN claimed c ON true
  ) b ON true`;

/**
 * One statement for the whole hand-out, so that a bundle fetch costs one round trip instead of five:
 * reads the target; only when it is enrolled and has a v2 bundle (a signed prekey with its id),
 * takes one token from the (requester, target) bucket, refilled for the time elapsed (changing
 * nothing when less than one token is left); only when a token was taken, claims (deletes) the
 * target's oldest one-time prekey, where SKIP LOCKED lets concurrent fetches on any replica claim
 * different keys instead of waiting, so no key goes out twice. The stock left is the count in the
 * statement's snapshot less the key claimed, counting no further than `lowStock` + 1 keys (the push
 * decision needs no more), so a large stock costs no longer scan. All of it only once the request's id is recorded by
 * the same statement (checks 5 and the operation of docs/protocol-v2.md section 3.2 in one round trip).
 */
export async function handOutBundleRow(
  sql: Sql, requesterId: string, target: string, bucket: Bucket, lowStock: number, gate: RequestIdGate,
): Promise<BundleHandOutRow> {
  const rows = await sql.query<BundleHandOutRow>(
    HAND_OUT_BUNDLE,
    [requesterId, target, bucket.burst, bucket.intervalMs, ...requestIdParams(gate), lowStock]);
  return rows[0]!;
}
