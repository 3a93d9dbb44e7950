import type { Sql } from '../database.js';

/**
 * One function per SQL statement on the v1 mailbox tables (initial_messages, chat_messages). A
 * recipient is a user registered over v1 (never a v2 device) and not disabled by the operator (a
 * disabled device gets and hands out nothing, like an unknown one), found by a scalar subquery, not a
 * join, so that the queue's (recipient, id) index is used: see query_plans.test.ts.
 */

/** The v1 user named $1, unless disabled. */
const V1_RECIPIENT = 'SELECT id FROM users WHERE username = $1 AND wire_protocol = 1 AND deleted_at IS NULL AND disabled_at IS NULL';

export interface InitialMessageRecord {
  sender: string;
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  oneTimePreKeyId: number;
  ciphertext: Uint8Array;
  associatedData: Uint8Array;
  nonce: Uint8Array;
}

/** Queues an initial message for a recipient registered over v1; false when there is no such user. */
export async function insertInitialMessage(sql: Sql, recipient: string, message: InitialMessageRecord): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO initial_messages
       (recipient_id, sender, identity_key, ephemeral_key, one_time_prekey_id, ciphertext, associated_data, nonce)
     SELECT id, $2, $3, $4, $5, $6, $7, $8 FROM (${V1_RECIPIENT}) AS recipient
     RETURNING id`,
    [recipient, message.sender, message.identityKey, message.ephemeralKey, message.oneTimePreKeyId,
      message.ciphertext, message.associatedData, message.nonce]);
  return rows.length === 1;
}

/** Hands out (deletes and returns) the recipient's oldest pending initial message not being handed out right now. */
export async function claimInitialMessage(sql: Sql, recipient: string): Promise<InitialMessageRecord | null> {
  const rows = await sql.query<{
    sender: string; identity_key: Uint8Array; ephemeral_key: Uint8Array; one_time_prekey_id: number;
    ciphertext: Uint8Array; associated_data: Uint8Array; nonce: Uint8Array;
  }>(
    `DELETE FROM initial_messages WHERE id = (
       SELECT m.id FROM initial_messages m WHERE m.recipient_id = (${V1_RECIPIENT})
       ORDER BY m.id LIMIT 1 FOR UPDATE OF m SKIP LOCKED)
     RETURNING sender, identity_key, ephemeral_key, one_time_prekey_id, ciphertext, associated_data, nonce`,
    [recipient]);
  const row = rows[0];
  return row ? {
    sender: row.sender, identityKey: row.identity_key, ephemeralKey: row.ephemeral_key,
    oneTimePreKeyId: row.one_time_prekey_id, ciphertext: row.ciphertext,
    associatedData: row.associated_data, nonce: row.nonce,
  } : null;
}

/** Stores a chat message for a recipient registered over v1; false when there is no such user. */
export async function insertChatMessage(
  sql: Sql, recipient: string, sender: string, ciphertext: Uint8Array, nonce: Uint8Array,
): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO chat_messages (recipient_id, sender, ciphertext, nonce)
     SELECT id, $2, $3, $4 FROM (${V1_RECIPIENT}) AS recipient RETURNING id`,
    [recipient, sender, ciphertext, nonce]);
  return rows.length === 1;
}

/**
 * Hands out (deletes and returns) up to `limit` pending chat messages from sender to recipient,
 * oldest first. Only the rows returned are deleted: a message stored meanwhile stays for next time.
 */
export async function claimChatMessages(
  sql: Sql, recipient: string, sender: string, limit: number,
): Promise<{ ciphertext: Uint8Array; nonce: Uint8Array }[]> {
  return sql.query(
    `WITH claimed AS (
       DELETE FROM chat_messages WHERE id IN (
         SELECT c.id FROM chat_messages c
         WHERE c.recipient_id = (${V1_RECIPIENT}) AND c.sender = $2
         ORDER BY c.id LIMIT $3 FOR UPDATE OF c SKIP LOCKED)
       RETURNING id, ciphertext, nonce
     )
     SELECT ciphertext, nonce FROM claimed ORDER BY id`,
    [recipient, sender, limit]);
}
