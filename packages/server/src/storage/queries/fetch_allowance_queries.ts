import type { Sql } from '../database.js';
import { recordedRequestIdCte, requestIdParams, type RequestIdGate } from './request_id_queries.js';

/**
 * The SQL statement of a v2 bundle hand-out, with its token buckets per (requester, target) on
 * bundle_fetch_allowances and per target on prekey_handout_allowances (which v1 hand-outs share).
 */

export interface Bucket {
  /** Tokens at most (and at first). */
  burst: number;
  /** Milliseconds per token refilled. */
  intervalMs: number;
}

export interface FetchBuckets {
  /** Bundle fetches per (requester, target). */
  requester: Bucket;
  /** One-time prekeys handed out per target, whoever asks. */
  target: Bucket;
}

export interface BundleHandOutRow {
  /** The request id was recorded; else nothing happened and every other column is null. */
  request_recorded: boolean;
  /** Null for a name never registered. */
  id: string | null;
  identity_key: Uint8Array;
  /** Deleted, or disabled by the operator: nothing of it is handed out. */
  deleted: boolean | null;
  signed_prekey_id: number | null;
  signed_prekey: Uint8Array | null;
  signed_prekey_signature: Uint8Array | null;
  identity_epoch: number;
  identity_certificate: Uint8Array | null;
  certificate_issuer: string | null;
  /** A token was taken from the (requester, target) bucket (only when the target has a v2 bundle). */
  token_taken: boolean | null;
  /** Milliseconds until the bucket holds one token again, when no token was taken. */
  wait_ms: number | null;
  /** Null when the stock is empty or the target's bucket had no token (the one-time prekey was withheld). */
  key_id: number | null;
  public_key: Uint8Array | null;
  /**
   * One-time prekeys the target has left after this claim, when a token was taken; counted only
   * up to the low-stock threshold, so a larger stock reads as the threshold or more.
   */
  stock_left: number | null;
}

/**
 * A bucket's tokens now (bucket row `a`, with `burst` and milliseconds per token as parameters). A
 * transaction's now() is its start: one that started earlier may find the bucket written by one that
 * started later, and that (negative) time counts as none.
 */
const refilled = (burst: string, intervalMs: string) =>
  `least(${burst}::float8, a.tokens + greatest(0, extract(epoch FROM now() - a.updated_at)) * 1000 / ${intervalMs}::float8)`;

const REFILLED = refilled('$3', '$4');

/**
 * The WITH item `name` taking one token from the per-target bucket of prekey_handout_allowances
 * for the target id of each row of `source` (its `target_id` column): one row when taken. The
 * one-time prekey hand-outs of all requesters together, v1 and v2, go through it.
 */
export function targetTokenCte(name: string, source: string, burst: string, intervalMs: string): string {
  return `${name} AS (
    INSERT INTO prekey_handout_allowances AS a (target_id, tokens, updated_at)
    SELECT target_id, ${burst}::float8 - 1, now() FROM ${source}
    ON CONFLICT (target_id) DO UPDATE
      SET tokens = ${refilled(burst, intervalMs)} - 1, updated_at = greatest(a.updated_at, now())
      WHERE ${refilled(burst, intervalMs)} >= 1
    RETURNING target_id
  )`;
}

/** The statement of handOutBundleRow, built once (a text built at every call is hashed again at every use). */
const HAND_OUT_BUNDLE = `WITH ${recordedRequestIdCte(5)}, target AS (
    SELECT id, identity_key, (deleted_at IS NOT NULL OR disabled_at IS NOT NULL) AS deleted, signed_prekey_id, signed_prekey,
      signed_prekey_signature, identity_epoch, identity_certificate, certificate_issuer
    FROM users WHERE username = $2 AND wire_protocol = 2 AND EXISTS (SELECT 1 FROM recorded)
  ), token AS (
    INSERT INTO bundle_fetch_allowances AS a (requester_id, target_id, tokens, updated_at)
    SELECT $1::bigint, id, $3::float8 - 1, now() FROM target
    WHERE NOT deleted AND signed_prekey_id IS NOT NULL AND signed_prekey IS NOT NULL AND signed_prekey_signature IS NOT NULL
    ON CONFLICT (requester_id, target_id) DO UPDATE
      SET tokens = ${REFILLED} - 1, updated_at = greatest(a.updated_at, now())
      WHERE ${REFILLED} >= 1
    RETURNING target_id
  ), ${targetTokenCte('target_token', 'token', '$14', '$15')}, claimed AS (
    DELETE FROM one_time_prekeys WHERE id = (
      SELECT o.id FROM one_time_prekeys o WHERE o.user_id = (SELECT target_id FROM target_token)
      ORDER BY o.id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING key_id, public_key
  ), handout AS (
    INSERT INTO one_time_prekey_handouts (user_id, key_id, handed_out_at)
    SELECT (SELECT target_id FROM target_token), key_id, now() FROM claimed
    ON CONFLICT (user_id, key_id) DO NOTHING
  )
  SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded, b.* FROM (SELECT 1) AS one LEFT JOIN (
  SELECT t.id::text AS id, t.identity_key, t.deleted, t.signed_prekey_id, t.signed_prekey, t.signed_prekey_signature,
    t.identity_epoch::float8 AS identity_epoch, t.identity_certificate, t.certificate_issuer,
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
 * reads the target; only when it is enrolled over v2 and has a v2 bundle (a signed prekey with its id),
 * takes one token from the (requester, target) bucket, refilled for the time elapsed (changing
 * nothing when less than one token is left); only when a token was taken, takes one from the
 * target's bucket, and only when that was taken too, claims (deletes) the target's oldest one-time
 * prekey (else the bundle goes out without one) and records its hand-out for the target to learn of, where SKIP LOCKED lets concurrent fetches on any replica claim
 * different keys instead of waiting, so no key goes out twice. The stock left is the count in the
 * statement's snapshot less the key claimed, counting no further than `lowStock` + 1 keys (the push
 * decision needs no more), so a large stock costs no longer scan. All of it only once the request's id is recorded by
 * the same statement (checks 5 and the operation of docs/protocol-v2.md section 3.2 in one round trip).
 */
export async function handOutBundleRow(
  sql: Sql, requesterId: string, target: string, buckets: FetchBuckets, lowStock: number, gate: RequestIdGate,
): Promise<BundleHandOutRow> {
  const { requester, target: perTarget } = buckets;
  const rows = await sql.query<BundleHandOutRow>(
    HAND_OUT_BUNDLE,
    [requesterId, target, requester.burst, requester.intervalMs, ...requestIdParams(gate), lowStock,
      perTarget.burst, perTarget.intervalMs]);
  return rows[0]!;
}
