import type { Sql } from '../database.js';
import type { Bucket } from './fetch_allowance_queries.js';
import { recordedRequestIdCte, requestIdParams, type RequestIdGate } from './request_id_queries.js';

/** One function per SQL statement on mailbox_messages and sent_messages (the v2 mailbox). */

export interface MailboxLimits {
  maxMessages: number;
  maxBytes: number;
  retentionSeconds: number;
  /** Most messages waiting from one sender the recipient has written to (a correspondent). */
  perCorrespondent: number;
  /** Most messages waiting from one sender the recipient has never written to (a stranger). */
  perStranger: number;
  /** Most messages waiting from all strangers together. */
  strangers: number;
  /** Sends per (sender, recipient): burst, then one more per interval. */
  sends: Bucket;
}

export interface NewMailboxMessage {
  clientId: Uint8Array;
  type: string;
  envelope: Uint8Array;
}

const MS = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

export interface QueueResult {
  /** The request id was recorded; else nothing was read or written. */
  request_recorded: boolean;
  /** The first result of an earlier send with this client message id, if any (then nothing was queued). */
  earlier: { message_id: string; queued_at: number } | null;
  /** The recipient's id; null when it is not enrolled, deleted or disabled (or when there was an earlier send). */
  recipient_id: string | null;
  /** The recipient has written to the sender (then its quota is perCorrespondent, else perStranger and strangers). */
  correspondent: boolean;
  /** The sender's messages waiting for the recipient leave room for this one. */
  within_quota: boolean;
  /** Milliseconds until the (sender, recipient) bucket holds a token again, when none was taken (rate limited). */
  wait_ms: number | null;
  /** The queued message; null when there was no room (or nothing was to be queued). */
  queued: { id: string; queued_at: number } | null;
  /** False when a concurrent send with the same client message id was recorded first (the caller must roll back). */
  send_recorded: boolean;
}

/**
 * The bucket's tokens now ($15 burst, $16 milliseconds per token). A transaction's now() is its
 * start: one that started earlier may find the bucket written by one that started later, and that
 * (negative) time counts as none.
 */
const REFILLED = 'least($15::float8, a.tokens + greatest(0, extract(epoch FROM now() - a.updated_at)) * 1000 / $16::float8)';

/** The send's token: from the (sender, recipient) bucket, changing nothing when less than one is left. */
const TAKE_TOKEN = `token AS (
    INSERT INTO message_send_allowances AS a (sender_id, recipient_id, tokens, updated_at)
    SELECT $1::bigint, id, $15::float8 - 1, now() FROM recipient WHERE EXISTS (SELECT 1 FROM within_quota)
    ON CONFLICT (sender_id, recipient_id) DO UPDATE
      SET tokens = ${REFILLED} - 1, updated_at = greatest(a.updated_at, now())
      WHERE ${REFILLED} >= 1
    RETURNING 1
  )`;
const TOKEN_WAIT_MS = `CASE WHEN EXISTS (SELECT 1 FROM token) OR NOT EXISTS (SELECT 1 FROM within_quota) THEN NULL ELSE coalesce((
    SELECT greatest(0, (1 - ${REFILLED}) * $16::float8)::float8 FROM message_send_allowances a
    WHERE a.sender_id = $1::bigint AND a.recipient_id = (SELECT id FROM recipient)), 0) END`;

/**
 * The statement of queueMessage, built once per form (a text built at every call is hashed again
 * at every use): the first attempt records the request id and takes a token; a second attempt
 * (after expired messages were dropped) does neither again.
 */
const queueMessageStatement = (recorded: string, token: string, waitMs: string) => `WITH ${recorded}, earlier AS (
    SELECT message_id, queued_at FROM sent_messages
    WHERE sender_id = $1::bigint AND client_id = $2 AND EXISTS (SELECT 1 FROM recorded)
  ), recipient AS (
    SELECT id FROM users
    WHERE username = $3 AND deleted_at IS NULL AND disabled_at IS NULL AND wire_protocol = 2
      AND EXISTS (SELECT 1 FROM recorded) AND NOT EXISTS (SELECT 1 FROM earlier)
  ), accepted AS (
    SELECT EXISTS (
      SELECT 1 FROM message_send_allowances WHERE sender_id = (SELECT id FROM recipient) AND recipient_id = $1::bigint) AS yes
  ), within_quota AS (
    SELECT 1 FROM accepted WHERE EXISTS (SELECT 1 FROM recipient) AND (
      SELECT count(*) < CASE WHEN accepted.yes THEN $9::integer ELSE $11::integer END
        AND coalesce(sum(octet_length(m.envelope)), 0) + octet_length($5::bytea) <= CASE WHEN accepted.yes THEN $10::bigint ELSE $12::bigint END
      FROM mailbox_messages m
      WHERE m.recipient_id = (SELECT id FROM recipient) AND m.sender_id = $1::bigint AND m.expires_at > now())
  ), ${token}, room AS (
    UPDATE users SET queued_messages = queued_messages + 1, queued_bytes = queued_bytes + octet_length($5::bytea),
      stranger_messages = stranger_messages + CASE WHEN (SELECT yes FROM accepted) THEN 0 ELSE 1 END,
      stranger_bytes = stranger_bytes + CASE WHEN (SELECT yes FROM accepted) THEN 0 ELSE octet_length($5::bytea) END
    WHERE id = (SELECT id FROM recipient) AND EXISTS (SELECT 1 FROM token)
      AND queued_messages < $7 AND queued_bytes + octet_length($5::bytea) <= $8
      AND ((SELECT yes FROM accepted) OR (stranger_messages < $13 AND stranger_bytes + octet_length($5::bytea) <= $14))
    RETURNING id
  ), queued AS (
    INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at, from_stranger)
    SELECT id, $1::bigint, $2, $4, $5, now() + make_interval(secs => $6), NOT (SELECT yes FROM accepted) FROM room
    RETURNING id, queued_at
  ), sent AS (
    INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
    SELECT $1::bigint, $2, id, queued_at, now() + make_interval(secs => $6) FROM queued
    ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded,
    (SELECT message_id::text FROM earlier) AS earlier_id, (SELECT ${MS('queued_at')} FROM earlier) AS earlier_queued_at,
    (SELECT id::text FROM recipient) AS recipient_id, (SELECT yes FROM accepted) AS correspondent,
    EXISTS (SELECT 1 FROM within_quota) AS within_quota, ${waitMs} AS wait_ms,
    (SELECT id::text FROM queued) AS message_id, (SELECT ${MS('queued_at')} FROM queued) AS queued_at,
    EXISTS (SELECT 1 FROM sent) AS send_recorded`;
const QUEUE_MESSAGE = queueMessageStatement(recordedRequestIdCte(17), TAKE_TOKEN, TOKEN_WAIT_MS);
/** For a second attempt, whose request id and token the first one took. */
const QUEUE_MESSAGE_AGAIN = queueMessageStatement('recorded AS (SELECT 1)', 'token AS (SELECT 1 FROM within_quota)', 'NULL::float8');

/** Bytes in proportion to messages: a quota of n messages also allows n/maxMessages of the mailbox's bytes. */
const bytesFor = (messages: number, limits: MailboxLimits) => Math.floor(limits.maxBytes * Math.min(1, messages / limits.maxMessages));

/**
 * A send in one statement: the earlier result of a send with this client message id if any;
 * else, when the sender's waiting messages are within its quota (perCorrespondent if the
 * recipient has written to it, else perStranger), it takes a token from the (sender, recipient)
 * bucket; then, unless the recipient's mailbox totals (users.queued_messages, queued_bytes, and
 * for a stranger stranger_messages, stranger_bytes) are at a limit, adds the message to them,
 * queues it and records the send by client message id (kept as long as the message could wait).
 * The update of the totals waits for concurrent sends to the same recipient, on any replica, and
 * then checks the limits on their committed totals, so concurrent sends cannot overfill a mailbox
 * or the strangers' share together. The sender's own count is read in the statement's snapshot:
 * sends of one sender to one recipient that run at the same moment in separate transactions may
 * each pass it, so a sender can exceed its quota by its sends in flight, never the totals. All of
 * it only once the request's id is recorded by the same statement; `gate` null when it was
 * recorded (and the token taken) before, by a first attempt.
 */
export async function queueMessage(
  sql: Sql, senderId: string, recipient: string, message: NewMailboxMessage,
  limits: MailboxLimits, gate: RequestIdGate | null,
): Promise<QueueResult> {
  const rows = await sql.query<{
    request_recorded: boolean; earlier_id: string | null; earlier_queued_at: number | null; recipient_id: string | null;
    correspondent: boolean; within_quota: boolean; wait_ms: number | null;
    message_id: string | null; queued_at: number | null; send_recorded: boolean;
  }>(
    gate === null ? QUEUE_MESSAGE_AGAIN : QUEUE_MESSAGE,
    [senderId, message.clientId, recipient, message.type, message.envelope,
      limits.retentionSeconds, limits.maxMessages, limits.maxBytes,
      limits.perCorrespondent, bytesFor(limits.perCorrespondent, limits), limits.perStranger, bytesFor(limits.perStranger, limits),
      limits.strangers, bytesFor(limits.strangers, limits),
      ...(gate === null ? [] : [limits.sends.burst, limits.sends.intervalMs, ...requestIdParams(gate)])]);
  const row = rows[0]!;
  return {
    request_recorded: row.request_recorded,
    earlier: row.earlier_id === null ? null : { message_id: row.earlier_id, queued_at: row.earlier_queued_at! },
    recipient_id: row.recipient_id,
    correspondent: row.correspondent,
    within_quota: row.within_quota,
    wait_ms: row.wait_ms,
    queued: row.message_id === null ? null : { id: row.message_id, queued_at: row.queued_at! },
    send_recorded: row.send_recorded,
  };
}

/** The SET list taking the deleted messages of a WITH item (its bytes and from_stranger) off one recipient's totals. */
const lessTotals = (deleted: string) => `queued_messages = queued_messages - (SELECT count(*) FROM ${deleted}),
    queued_bytes = queued_bytes - (SELECT coalesce(sum(bytes), 0) FROM ${deleted}),
    stranger_messages = stranger_messages - (SELECT count(*) FROM ${deleted} WHERE from_stranger),
    stranger_bytes = stranger_bytes - (SELECT coalesce(sum(bytes), 0) FROM ${deleted} WHERE from_stranger)`;

/**
 * Deletes the recipient's expired messages and takes them off its mailbox totals; how many. Until
 * the periodic purge, expired messages still count in the totals: a send that finds the mailbox
 * full drops them first, so that they never count against the limits.
 */
export async function dropExpiredMessages(sql: Sql, recipientId: string): Promise<number> {
  const rows = await sql.query<{ dropped: number }>(
    `WITH dropped AS (
       DELETE FROM mailbox_messages WHERE recipient_id = $1::bigint AND expires_at <= now()
       RETURNING octet_length(envelope) AS bytes, from_stranger
     ), totals AS (
       UPDATE users SET ${lessTotals('dropped')}
       WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM dropped)
     )
     SELECT count(*)::integer AS dropped FROM dropped`,
    [recipientId]);
  return rows[0]!.dropped;
}

export interface MailboxMessageRow {
  id: string;
  sender: string;
  type: string;
  envelope: Uint8Array;
  client_id: Uint8Array;
  queued_at: number;
}

/** The statement of listMailboxMessages, built once (a text built at every call is hashed again at every use). */
const LIST_MAILBOX_MESSAGES = `WITH ${recordedRequestIdCte(4)}
  SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded, b.id, b.sender, b.type, b.envelope, b.client_id, b.queued_at
  FROM (SELECT 1) AS one LEFT JOIN (
    SELECT m.id AS n, m.id::text AS id, u.username AS sender, m.type, m.envelope, m.client_id, ${MS('m.queued_at')} AS queued_at
    FROM mailbox_messages m JOIN users u ON u.id = m.sender_id
    WHERE m.recipient_id = $1::bigint AND m.id > $2::bigint AND m.expires_at > now() AND EXISTS (SELECT 1 FROM recorded)
    ORDER BY m.id LIMIT $3
  ) b ON true
  ORDER BY b.n`;

/**
 * The recipient's unexpired messages with ids above `after`, oldest first, read once the request's
 * id is recorded by the same statement (one round trip for both); null, having read nothing, when
 * the id was used before.
 */
export async function listMailboxMessages(
  sql: Sql, recipientId: string, after: string, limit: number, gate: RequestIdGate,
): Promise<MailboxMessageRow[] | null> {
  const rows = await sql.query<MailboxMessageRow & { request_recorded: boolean; id: string | null }>(
    LIST_MAILBOX_MESSAGES,
    [recipientId, after, limit, ...requestIdParams(gate)]);
  if (!rows[0]!.request_recorded) return null;
  return rows.filter((row) => row.id !== null).map(({ request_recorded: _, ...message }) => message as MailboxMessageRow);
}

/** The statement of deleteAcknowledgedMessages, built once (a text built at every call is hashed again at every use). */
const DELETE_ACKNOWLEDGED_MESSAGES = `WITH ${recordedRequestIdCte(3)}, acknowledged AS (
    DELETE FROM mailbox_messages
    WHERE recipient_id = $1::bigint AND id = ANY($2::bigint[]) AND EXISTS (SELECT 1 FROM recorded)
    RETURNING octet_length(envelope) AS bytes, from_stranger
  ), totals AS (
    UPDATE users SET ${lessTotals('acknowledged')}
    WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM acknowledged)
  )
  SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded, (SELECT count(*) FROM acknowledged)::integer AS acknowledged`;

/**
 * Deletes those of the ids that are the recipient's own messages, and takes them off its mailbox
 * totals, once the request's id is recorded by the same statement; how many were deleted, or
 * null, changing nothing, when the id was used before.
 */
export async function deleteAcknowledgedMessages(
  sql: Sql, recipientId: string, ids: readonly string[], gate: RequestIdGate,
): Promise<number | null> {
  const rows = await sql.query<{ request_recorded: boolean; acknowledged: number }>(
    DELETE_ACKNOWLEDGED_MESSAGES,
    [recipientId, ids, ...requestIdParams(gate)]);
  return rows[0]!.request_recorded ? rows[0]!.acknowledged : null;
}

export async function deleteMailbox(sql: Sql, recipientId: string): Promise<void> {
  await sql.query(
    `WITH emptied AS (DELETE FROM mailbox_messages WHERE recipient_id = $1::bigint)
     UPDATE users SET queued_messages = 0, queued_bytes = 0, stranger_messages = 0, stranger_bytes = 0 WHERE id = $1::bigint`,
    [recipientId]);
}

/**
 * Deletes up to `limit` messages past their expiry, oldest expiry first, and takes them off their
 * recipients' mailbox totals; how many. A batch at a time (see purgeInBatches), so no transaction
 * grows with the table; SKIP LOCKED leaves rows another replica's purge or a recipient's own drop
 * holds to them.
 */
export async function purgeExpiredMessages(sql: Sql, limit: number): Promise<number> {
  const rows = await sql.query<{ purged: number }>(
    `WITH purged AS (
       DELETE FROM mailbox_messages WHERE id = ANY(ARRAY(
         SELECT id FROM mailbox_messages WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED))
       RETURNING recipient_id, octet_length(envelope) AS bytes, from_stranger
     ), totals AS (
       UPDATE users u SET queued_messages = u.queued_messages - p.messages, queued_bytes = u.queued_bytes - p.bytes,
         stranger_messages = u.stranger_messages - p.stranger_messages, stranger_bytes = u.stranger_bytes - p.stranger_bytes
       FROM (
         SELECT recipient_id, count(*) AS messages, sum(bytes) AS bytes, count(*) FILTER (WHERE from_stranger) AS stranger_messages,
           coalesce(sum(bytes) FILTER (WHERE from_stranger), 0) AS stranger_bytes
         FROM purged GROUP BY recipient_id) p
       WHERE u.id = p.recipient_id
     )
     SELECT count(*)::integer AS purged FROM purged`,
    [limit]);
  return rows[0]!.purged;
}

/** Forgets up to `limit` sends whose message could no longer be waiting; how many. */
export async function purgeSentMessages(sql: Sql, limit: number): Promise<number> {
  const rows = await sql.query(
    `DELETE FROM sent_messages WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM sent_messages WHERE expires_at < now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED))
     RETURNING 1`,
    [limit]);
  return rows.length;
}

/** Forgets a device's rate allowances (as requester, target, sender or recipient) and the records of its sends. */
export async function forgetCorrespondence(sql: Sql, deviceId: string): Promise<void> {
  await sql.query(
    `WITH fetches AS (DELETE FROM bundle_fetch_allowances WHERE requester_id = $1::bigint OR target_id = $1::bigint),
       sends AS (DELETE FROM message_send_allowances WHERE sender_id = $1::bigint OR recipient_id = $1::bigint)
     DELETE FROM sent_messages WHERE sender_id = $1::bigint`,
    [deviceId]);
}
