import type { Sql } from '../database.js';
import { recordedRequestIdCte, requestIdParams, type RequestIdGate } from './request_id_queries.js';

/** One function per SQL statement on mailbox_messages and sent_messages (the v2 mailbox). */

export interface MailboxLimits {
  maxMessages: number;
  maxBytes: number;
  retentionSeconds: number;
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
  /** The recipient's id; null when it is not enrolled (or when there was an earlier send). */
  recipient_id: string | null;
  /** The queued message; null when the mailbox had no room (or nothing was to be queued). */
  queued: { id: string; queued_at: number } | null;
  /** False when a concurrent send with the same client message id was recorded first (the caller must roll back). */
  send_recorded: boolean;
}

/** The statement of queueMessage, built once per form (a text built at every call is hashed again at every use). */
const queueMessageStatement = (recorded: string) => `WITH ${recorded}, earlier AS (
    SELECT message_id, queued_at FROM sent_messages
    WHERE sender_id = $1::bigint AND client_id = $2 AND EXISTS (SELECT 1 FROM recorded)
  ), recipient AS (
    SELECT id FROM users
    WHERE username = $3 AND deleted_at IS NULL AND wire_protocol = 2 AND EXISTS (SELECT 1 FROM recorded) AND NOT EXISTS (SELECT 1 FROM earlier)
  ), room AS (
    UPDATE users SET queued_messages = queued_messages + 1, queued_bytes = queued_bytes + octet_length($5::bytea)
    WHERE id = (SELECT id FROM recipient) AND deleted_at IS NULL
      AND queued_messages < $7 AND queued_bytes + octet_length($5::bytea) <= $8
    RETURNING id
  ), queued AS (
    INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
    SELECT id, $1::bigint, $2, $4, $5, now() + make_interval(secs => $6) FROM room
    RETURNING id, queued_at
  ), sent AS (
    INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
    SELECT $1::bigint, $2, id, queued_at, now() + make_interval(secs => $6) FROM queued
    ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded,
    (SELECT message_id::text FROM earlier) AS earlier_id, (SELECT ${MS('queued_at')} FROM earlier) AS earlier_queued_at,
    (SELECT id::text FROM recipient) AS recipient_id,
    (SELECT id::text FROM queued) AS message_id, (SELECT ${MS('queued_at')} FROM queued) AS queued_at,
    EXISTS (SELECT 1 FROM sent) AS send_recorded`;
const QUEUE_MESSAGE = queueMessageStatement(recordedRequestIdCte(9));
/** For a second attempt, whose request id the first one recorded. */
const QUEUE_MESSAGE_RECORDED_BEFORE = queueMessageStatement('recorded AS (SELECT 1)');

/**
 * A send in one statement: the earlier result of a send with this client message id if any;
 * else, unless the recipient's mailbox totals (users.queued_messages, queued_bytes) are at a
 * limit, adds the message to them, queues it and records the send by client message id (kept as
 * long as the message could wait). The update of the totals waits for concurrent sends to the
 * same recipient, on any replica, and then checks the limits on their committed totals, so
 * concurrent sends cannot overfill a mailbox together. All of it only once the request's id is
 * recorded by the same statement; `gate` null when it was recorded before (a second attempt).
 */
export async function queueMessage(
  sql: Sql, senderId: string, recipient: string, message: NewMailboxMessage,
  limits: MailboxLimits, gate: RequestIdGate | null,
): Promise<QueueResult> {
  const rows = await sql.query<{
    request_recorded: boolean; earlier_id: string | null; earlier_queued_at: number | null; recipient_id: string | null;
    message_id: string | null; queued_at: number | null; send_recorded: boolean;
  }>(
    gate === null ? QUEUE_MESSAGE_RECORDED_BEFORE : QUEUE_MESSAGE,
    [senderId, message.clientId, recipient, message.type, message.envelope,
      limits.retentionSeconds, limits.maxMessages, limits.maxBytes, ...(gate === null ? [] : requestIdParams(gate))]);
  const row = rows[0]!;
  return {
    request_recorded: row.request_recorded,
    earlier: row.earlier_id === null ? null : { message_id: row.earlier_id, queued_at: row.earlier_queued_at! },
    recipient_id: row.recipient_id,
    queued: row.message_id === null ? null : { id: row.message_id, queued_at: row.queued_at! },
    send_recorded: row.send_recorded,
  };
}

/**
 * Deletes the recipient's expired messages and takes them off its mailbox totals; how many. Until
 * the periodic purge, expired messages still count in the totals: a send that finds the mailbox
 * full drops them first, so that they never count against the limits.
 */
export async function dropExpiredMessages(sql: Sql, recipientId: string): Promise<number> {
  const rows = await sql.query<{ dropped: number }>(
    `WITH dropped AS (
       DELETE FROM mailbox_messages WHERE recipient_id = $1::bigint AND expires_at <= now()
       RETURNING octet_length(envelope) AS bytes
     ), totals AS (
       UPDATE users SET queued_messages = queued_messages - (SELECT count(*) FROM dropped),
         queued_bytes = queued_bytes - (SELECT coalesce(sum(bytes), 0) FROM dropped)
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
    RETURNING octet_length(envelope) AS bytes
  ), totals AS (
    UPDATE users SET queued_messages = queued_messages - (SELECT count(*) FROM acknowledged),
      queued_bytes = queued_bytes - (SELECT coalesce(sum(bytes), 0) FROM acknowledged)
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
     UPDATE users SET queued_messages = 0, queued_bytes = 0 WHERE id = $1::bigint`,
    [recipientId]);
}

/** Deletes messages past their expiry and takes them off their recipients' mailbox totals; how many. */
export async function purgeExpiredMessages(sql: Sql): Promise<number> {
  const rows = await sql.query<{ purged: number }>(
    `WITH purged AS (
       DELETE FROM mailbox_messages WHERE expires_at <= now() RETURNING recipient_id, octet_length(envelope) AS bytes
     ), totals AS (
       UPDATE users u SET queued_messages = u.queued_messages - p.messages, queued_bytes = u.queued_bytes - p.bytes
       FROM (SELECT recipient_id, count(*) AS messages, sum(bytes) AS bytes FROM purged GROUP BY recipient_id) p
       WHERE u.id = p.recipient_id
     )
     SELECT count(*)::integer AS purged FROM purged`);
  return rows[0]!.purged;
}

/** Forgets sends whose message could no longer be waiting; how many. */
export async function purgeSentMessages(sql: Sql): Promise<number> {
  const rows = await sql.query('DELETE FROM sent_messages WHERE expires_at < now() RETURNING 1');
  return rows.length;
}
