import type { Sql } from '../database.js';
import { recordedRequestIdCte, requestIdParams, type RequestIdGate } from './request_id_queries.js';

/** One function per SQL statement on mailbox_messages and sent_messages (the v2 mailbox). */

export interface MailboxLimits {
  maxMessages: number;
  maxBytes: number;
  retentionSeconds: number;
}

export interface NewMailboxMessage {
  recipientId: string;
  senderId: string;
  clientId: Uint8Array;
  type: string;
  envelope: Uint8Array;
}

const MS = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

export interface SendTarget {
  /** The request id was recorded; else nothing was read or locked. */
  request_recorded: boolean;
  /** The first result of an earlier send with this client message id, if any. */
  earlier: { message_id: string; queued_at: number } | null;
  /** The recipient's id, locked; null when it is not enrolled (or when there was an earlier send). */
  recipient_id: string | null;
}

/**
 * The first statement of a send, one round trip where it was three: the earlier result of a send
 * with this client message id if any; else the recipient, enrolled and not deleted, with its row
 * locked until the transaction ends (FOR NO KEY UPDATE, which still lets others insert rows
 * referencing it). The lock serializes sends to one recipient across transactions and replicas,
 * so that concurrent ones cannot overfill the mailbox together; it must be a statement of its own,
 * before insertMailboxMessage, whose snapshot then sees every message committed by the sends it
 * waited for. All of it only once the request's id is recorded by the same statement.
 */
export async function findSendTarget(
  sql: Sql, senderId: string, clientId: Uint8Array, recipient: string, gate: RequestIdGate,
): Promise<SendTarget> {
  const rows = await sql.query<{ request_recorded: boolean; message_id: string | null; queued_at: number | null; recipient_id: string | null }>(
    `WITH ${recordedRequestIdCte(4)}, earlier AS (
       SELECT message_id, queued_at FROM sent_messages
       WHERE sender_id = $1::bigint AND client_id = $2 AND EXISTS (SELECT 1 FROM recorded)
     ), recipient AS (
       SELECT id FROM users
       WHERE username = $3 AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM recorded) AND NOT EXISTS (SELECT 1 FROM earlier)
       FOR NO KEY UPDATE OF users
     )
     SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded,
       (SELECT message_id::text FROM earlier) AS message_id, (SELECT ${MS('queued_at')} FROM earlier) AS queued_at,
       (SELECT id::text FROM recipient) AS recipient_id`,
    [senderId, clientId, recipient, ...requestIdParams(gate)]);
  const row = rows[0]!;
  return {
    request_recorded: row.request_recorded,
    earlier: row.message_id === null ? null : { message_id: row.message_id, queued_at: row.queued_at! },
    recipient_id: row.recipient_id,
  };
}

/**
 * Queues a message unless the recipient's mailbox already holds the maximum number of messages or
 * envelope bytes, and records the send by client message id (kept as long as the message could
 * wait): one statement, so that the check, the insert and the record are one round trip. Null
 * when the mailbox is full; `recorded` is false when a concurrent send with the same client
 * message id recorded one first (the caller must roll back: the message was queued).
 */
export async function insertMailboxMessage(
  sql: Sql, message: NewMailboxMessage, limits: MailboxLimits,
): Promise<{ id: string; queued_at: number; recorded: boolean } | null> {
  const rows = await sql.query<{ id: string; queued_at: number; recorded: boolean }>(
    `WITH queued AS (
       INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
       SELECT $1::bigint, $2::bigint, $3, $4, $5, now() + make_interval(secs => $6)
       WHERE (SELECT count(*) < $7 AND coalesce(sum(octet_length(envelope)), 0) + octet_length($5::bytea) <= $8
              FROM mailbox_messages WHERE recipient_id = $1::bigint AND expires_at > now())
       RETURNING id, queued_at
     ), sent AS (
       INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
       SELECT $2::bigint, $3, id, now(), now() + make_interval(secs => $6) FROM queued
       ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING 1
     )
     SELECT id::text AS id, ${MS('queued_at')} AS queued_at, EXISTS (SELECT 1 FROM sent) AS recorded FROM queued`,
    [message.recipientId, message.senderId, message.clientId, message.type, message.envelope,
      limits.retentionSeconds, limits.maxMessages, limits.maxBytes]);
  return rows[0] ?? null;
}

export interface MailboxMessageRow {
  id: string;
  sender: string;
  type: string;
  envelope: Uint8Array;
  client_id: Uint8Array;
  queued_at: number;
}

/**
 * The recipient's unexpired messages with ids above `after`, oldest first, read once the request's
 * id is recorded by the same statement (one round trip for both); null, having read nothing, when
 * the id was used before.
 */
export async function listMailboxMessages(
  sql: Sql, recipientId: string, after: string, limit: number, gate: RequestIdGate,
): Promise<MailboxMessageRow[] | null> {
  const rows = await sql.query<MailboxMessageRow & { request_recorded: boolean; id: string | null }>(
    `WITH ${recordedRequestIdCte(4)}
     SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded, b.id, b.sender, b.type, b.envelope, b.client_id, b.queued_at
     FROM (SELECT 1) AS one LEFT JOIN (
       SELECT m.id AS n, m.id::text AS id, u.username AS sender, m.type, m.envelope, m.client_id, ${MS('m.queued_at')} AS queued_at
       FROM mailbox_messages m JOIN users u ON u.id = m.sender_id
       WHERE m.recipient_id = $1::bigint AND m.id > $2::bigint AND m.expires_at > now() AND EXISTS (SELECT 1 FROM recorded)
       ORDER BY m.id LIMIT $3
     ) b ON true
     ORDER BY b.n`,
    [recipientId, after, limit, ...requestIdParams(gate)]);
  if (!rows[0]!.request_recorded) return null;
  return rows.filter((row) => row.id !== null).map(({ request_recorded: _, ...message }) => message as MailboxMessageRow);
}

/**
 * Deletes those of the ids that are the recipient's own messages, once the request's id is
 * recorded by the same statement; how many were deleted, or null, changing nothing, when the id
 * was used before.
 */
export async function deleteAcknowledgedMessages(
  sql: Sql, recipientId: string, ids: readonly string[], gate: RequestIdGate,
): Promise<number | null> {
  const rows = await sql.query<{ request_recorded: boolean; acknowledged: number }>(
    `WITH ${recordedRequestIdCte(3)}, acknowledged AS (
       DELETE FROM mailbox_messages
       WHERE recipient_id = $1::bigint AND id = ANY($2::bigint[]) AND EXISTS (SELECT 1 FROM recorded)
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM recorded) AS request_recorded, (SELECT count(*) FROM acknowledged)::integer AS acknowledged`,
    [recipientId, ids, ...requestIdParams(gate)]);
  return rows[0]!.request_recorded ? rows[0]!.acknowledged : null;
}

export async function deleteMailbox(sql: Sql, recipientId: string): Promise<void> {
  await sql.query('DELETE FROM mailbox_messages WHERE recipient_id = $1::bigint', [recipientId]);
}

/** Deletes messages past their expiry; how many. */
export async function purgeExpiredMessages(sql: Sql): Promise<number> {
  const rows = await sql.query('DELETE FROM mailbox_messages WHERE expires_at < now() RETURNING 1');
  return rows.length;
}

/** Forgets sends whose message could no longer be waiting; how many. */
export async function purgeSentMessages(sql: Sql): Promise<number> {
  const rows = await sql.query('DELETE FROM sent_messages WHERE expires_at < now() RETURNING 1');
  return rows.length;
}
