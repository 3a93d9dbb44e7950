import type { Sql } from '../database.js';

/** One function per SQL statement on request_ids, the v2 replay guard. */

export interface RequestIdRecord {
  device: string;
  requestId: Uint8Array;
  /** SHA-256 of the signed string: the same id with another digest is a replay. */
  signedDigest: Uint8Array;
  /** Key of the request's processed_requests entry (its reply). */
  replyDigest: string;
}

/**
 * Records a request id; false when the device used it before within `keepSeconds` (an older record
 * is overwritten: the id is free again once the time window rules the request out anyway).
 */
export async function recordRequestId(sql: Sql, record: RequestIdRecord, keepSeconds: number): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO request_ids AS r (device, request_id, signed_digest, reply_digest) VALUES ($1, $2, $3, $4)
     ON CONFLICT (device, request_id) DO UPDATE
       SET signed_digest = EXCLUDED.signed_digest, reply_digest = EXCLUDED.reply_digest, received_at = now()
       WHERE r.received_at < now() - make_interval(secs => $5)
     RETURNING 1`,
    [record.device, record.requestId, record.signedDigest, record.replyDigest, keepSeconds]);
  return rows.length === 1;
}

/** A request id to record in the same statement as the operation it guards (see recordedRequestIdCte). */
export interface RequestIdGate {
  record: RequestIdRecord;
  keepSeconds: number;
  /**
   * The device and identity key the request's signature was checked against before its
   * transaction (a remembered key): the id is recorded only if the device still has that key and
   * is neither deleted nor disabled, so that nothing happens on a key another transaction or replica changed.
   */
  verifiedWith?: { deviceId: string; identityKey: Uint8Array };
}

/**
 * The statement of recordRequestId as a WITH item named `recorded` (one row when the id was
 * recorded), for an operation's statement that records its request id itself and does nothing
 * unless it was recorded: one round trip less per request. With the gate's `verifiedWith`, the
 * same statement also confirms the requester's identity key (one more round trip spared). Its
 * parameters are $first to $first+6, in the order of requestIdParams.
 */
export function recordedRequestIdCte(first: number): string {
  const p = (i: number) => `$${first + i}`;
  return `recorded AS (
       INSERT INTO request_ids AS r (device, request_id, signed_digest, reply_digest)
       SELECT ${p(0)}, ${p(1)}::bytea, ${p(2)}::bytea, ${p(3)}
       WHERE ${p(5)}::bigint IS NULL OR EXISTS (
         SELECT 1 FROM users
         WHERE id = ${p(5)}::bigint AND identity_key = ${p(6)}::bytea AND deleted_at IS NULL AND disabled_at IS NULL)
       ON CONFLICT (device, request_id) DO UPDATE
         SET signed_digest = EXCLUDED.signed_digest, reply_digest = EXCLUDED.reply_digest, received_at = now()
         WHERE r.received_at < now() - make_interval(secs => ${p(4)})
       RETURNING 1
     )`;
}

export function requestIdParams(gate: RequestIdGate): unknown[] {
  const { record, verifiedWith } = gate;
  return [record.device, record.requestId, record.signedDigest, record.replyDigest, gate.keepSeconds,
    verifiedWith?.deviceId ?? null, verifiedWith?.identityKey ?? null];
}

/** The earlier use of a request id. */
export async function findRequestId(sql: Sql, device: string, requestId: Uint8Array): Promise<{ signed_digest: Uint8Array; reply_digest: string } | null> {
  const rows = await sql.query<{ signed_digest: Uint8Array; reply_digest: string }>(
    'SELECT signed_digest, reply_digest FROM request_ids WHERE device = $1 AND request_id = $2', [device, requestId]);
  return rows[0] ?? null;
}

/** Forgets request ids older than `keepSeconds`; how many. */
export async function purgeRequestIds(sql: Sql, keepSeconds: number): Promise<number> {
  const rows = await sql.query(
    'DELETE FROM request_ids WHERE received_at < now() - make_interval(secs => $1) RETURNING 1', [keepSeconds]);
  return rows.length;
}
