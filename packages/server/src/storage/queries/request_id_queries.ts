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
 * Times are the server's clock (milliseconds), never the database's: the clock that judged the
 * request's time (check 3) is the one that decides when its id is free again, so a replica or a
 * database with another clock cannot free an id while the request is still within the window.
 */
const SERVER_TIME = (param: string) => `to_timestamp(${param}::float8 / 1000)`;

/** A request id to record, checked at `receivedAt`. */
export interface RequestIdGate {
  record: RequestIdRecord;
  /** When the server received the request and judged its time (server clock, ms since the epoch). */
  receivedAt: number;
  /** How long the id stays taken after `receivedAt`. */
  keepSeconds: number;
  /**
   * The device and identity key the request's signature was checked against before its
   * transaction (a remembered key): the id is recorded only if the device still has that key and
   * is neither deleted nor disabled, so that nothing happens on a key another transaction or replica changed.
   */
  verifiedWith?: { deviceId: string; identityKey: Uint8Array };
}

/**
 * The statement that records a request id, as a WITH item named `recorded` (one row when the id
 * was recorded; none when the device used it within `keepSeconds` before: an older record is
 * overwritten, the id being free again once the time window rules the request out anyway). An
 * operation's statement that records its request id itself does nothing unless it was recorded:
 * one round trip less per request. With the gate's `verifiedWith`, the same statement also
 * confirms the requester's identity key (one more round trip spared). Its parameters are $first
 * to $first+7, in the order of requestIdParams.
 */
export function recordedRequestIdCte(first: number): string {
  const p = (i: number) => `$${first + i}`;
  return `recorded AS (
       INSERT INTO request_ids AS r (device, request_id, signed_digest, reply_digest, received_at)
       SELECT ${p(0)}, ${p(1)}::bytea, ${p(2)}::bytea, ${p(3)}, ${SERVER_TIME(p(7))}
       WHERE ${p(5)}::bigint IS NULL OR EXISTS (
         SELECT 1 FROM users
         WHERE id = ${p(5)}::bigint AND identity_key = ${p(6)}::bytea AND deleted_at IS NULL AND disabled_at IS NULL)
       ON CONFLICT (device, request_id) DO UPDATE
         SET signed_digest = EXCLUDED.signed_digest, reply_digest = EXCLUDED.reply_digest, received_at = EXCLUDED.received_at
         WHERE r.received_at < EXCLUDED.received_at - make_interval(secs => ${p(4)})
       RETURNING 1
     )`;
}

export function requestIdParams(gate: RequestIdGate): unknown[] {
  const { record, verifiedWith } = gate;
  return [record.device, record.requestId, record.signedDigest, record.replyDigest, gate.keepSeconds,
    verifiedWith?.deviceId ?? null, verifiedWith?.identityKey ?? null, gate.receivedAt];
}

const RECORD_REQUEST_ID = `WITH ${recordedRequestIdCte(1)} SELECT 1 FROM recorded`;

/** Records a request id on its own (see recordedRequestIdCte); false when it was used before. */
export async function recordRequestId(sql: Sql, gate: RequestIdGate): Promise<boolean> {
  const rows = await sql.query(RECORD_REQUEST_ID, requestIdParams({ ...gate, verifiedWith: undefined }));
  return rows.length === 1;
}

/** The earlier use of a request id. */
export async function findRequestId(sql: Sql, device: string, requestId: Uint8Array): Promise<{ signed_digest: Uint8Array; reply_digest: string } | null> {
  const rows = await sql.query<{ signed_digest: Uint8Array; reply_digest: string }>(
    'SELECT signed_digest, reply_digest FROM request_ids WHERE device = $1 AND request_id = $2', [device, requestId]);
  return rows[0] ?? null;
}

/** Forgets up to `limit` request ids received more than `keepSeconds` before `now` (server clock, ms), oldest first; how many. */
export async function purgeRequestIds(sql: Sql, now: number, keepSeconds: number, limit: number): Promise<number> {
  const rows = await sql.query(
    `DELETE FROM request_ids WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM request_ids WHERE received_at < ${SERVER_TIME('$1')} - make_interval(secs => $2)
       ORDER BY received_at LIMIT $3 FOR UPDATE SKIP LOCKED))
     RETURNING 1`,
    [now, keepSeconds, limit]);
  return rows.length;
}
