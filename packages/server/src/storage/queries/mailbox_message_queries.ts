import type { Sql } from '../database.js';

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

/**
 * Queues a message unless the recipient's mailbox already holds the maximum number of messages or
 * envelope bytes; the check and the insert are one statement. Null when the mailbox is full.
 */
export async function insertMailboxMessage(
  sql: Sql, message: NewMailboxMessage, limits: MailboxLimits,
): Promise<{ id: string; queued_at: number } | null> {
  const rows = await sql.query<{ id: string; queued_at: number }>(
    `INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
     SELECT $1::bigint, $2::bigint, $3, $4, $5, now() + make_interval(secs => $6)
     WHERE (SELECT count(*) < $7 AND coalesce(sum(octet_length(envelope)), 0) + octet_length($5::bytea) <= $8
            FROM mailbox_messages WHERE recipient_id = $1::bigint AND expires_at > now())
     RETURNING id::text AS id, ${MS('queued_at')} AS queued_at`,
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

/** The recipient's unexpired messages with ids above `after`, oldest first. */
export async function listMailboxMessages(sql: Sql, recipientId: string, after: string, limit: number): Promise<MailboxMessageRow[]> {
  return sql.query<MailboxMessageRow>(
    `SELECT m.id::text AS id, u.username AS sender, m.type, m.envelope, m.client_id, ${MS('m.queued_at')} AS queued_at
     FROM mailbox_messages m JOIN users u ON u.id = m.sender_id
     WHERE m.recipient_id = $1::bigint AND m.id > $2::bigint AND m.expires_at > now()
     ORDER BY m.id LIMIT $3`,
    [recipientId, after, limit]);
}

/** Deletes those of the ids that are the recipient's own messages; how many were deleted. */
export async function deleteAcknowledgedMessages(sql: Sql, recipientId: string, ids: readonly string[]): Promise<number> {
  const rows = await sql.query(
    'DELETE FROM mailbox_messages WHERE recipient_id = $1::bigint AND id = ANY($2::bigint[]) RETURNING 1',
    [recipientId, ids]);
  return rows.length;
}

export async function deleteMailbox(sql: Sql, recipientId: string): Promise<void> {
  await sql.query('DELETE FROM mailbox_messages WHERE recipient_id = $1::bigint', [recipientId]);
}

/** The first result of an earlier send with this client message id, if any. */
export async function findSentMessage(sql: Sql, senderId: string, clientId: Uint8Array): Promise<{ message_id: string; queued_at: number } | null> {
  const rows = await sql.query<{ message_id: string; queued_at: number }>(
    `SELECT message_id::text AS message_id, ${MS('queued_at')} AS queued_at
     FROM sent_messages WHERE sender_id = $1::bigint AND client_id = $2`,
    [senderId, clientId]);
  return rows[0] ?? null;
}

/**
 * Records a send by client message id, kept as long as the message could wait. False when a
 * concurrent send with the same id recorded one first.
 */
export async function insertSentMessage(
  sql: Sql, senderId: string, clientId: Uint8Array, messageId: string, retentionSeconds: number,
): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
     VALUES ($1::bigint, $2, $3::bigint, now(), now() + make_interval(secs => $4))
     ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING 1`,
    [senderId, clientId, messageId, retentionSeconds]);
  return rows.length === 1;
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
