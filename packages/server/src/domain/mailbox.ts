import type { Sql } from '../storage/database.js';
import {
  claimChatMessages, claimInitialMessage, insertChatMessage, insertInitialMessage, type InitialMessageRecord,
} from '../storage/queries/mailbox_queries.js';

/**
 * Mailbox rules of wire protocol v1 (v2 has its own, mailbox_delivery.ts): messages wait per v1
 * recipient, in order, and are deleted only when handed out. Nothing overwrites a pending message.
 */

export type { InitialMessageRecord };

/** Most chat messages handed out by one fetch, which bounds a reply's size; the rest wait. */
export const MAX_CHAT_MESSAGES_PER_FETCH = 64;

/** Queues an initial message; false when the recipient is not registered. */
export const queueInitialMessage = insertInitialMessage;

/** Hands out the recipient's oldest pending initial message, or null when there is none. */
export const takeInitialMessage = claimInitialMessage;

/** Stores a chat message; false when the recipient is not registered. */
export const queueChatMessage = insertChatMessage;

/** Hands out the pending chat messages from `sender` to `recipient`, oldest first. */
export function takeChatMessages(sql: Sql, recipient: string, sender: string): Promise<{ ciphertext: Uint8Array; nonce: Uint8Array }[]> {
  return claimChatMessages(sql, recipient, sender, MAX_CHAT_MESSAGES_PER_FETCH);
}
