import { RequestRaceError } from '../processing/request_race.js';
import type { Sql } from '../storage/database.js';
import {
  deleteAcknowledgedMessages, dropExpiredMessages, listMailboxMessages, queueMessage,
  type MailboxLimits, type MailboxMessageRow,
} from '../storage/queries/mailbox_message_queries.js';
import type { RequestIdGate } from '../storage/queries/request_id_queries.js';
import { accept, refuse, REQUEST_ID_USED, type RequestIdUsed, type Result } from './refusal.js';

/**
 * The v2 mailbox (docs/protocol-v2.md sections 6.7, 6.8): messages wait per recipient, oldest
 * first, until the recipient acknowledges them by id or they expire. A send is idempotent by
 * (sender, client message id), also after the message was acknowledged.
 *
 * Each operation records the request's id in its first statement and runs only when it was
 * recorded: REQUEST_ID_USED, having changed nothing, when the id was used before.
 */

export interface Outgoing {
  to: string;
  clientId: Uint8Array;
  type: string;
  envelope: Uint8Array;
}

export interface Queued {
  messageId: string;
  queuedAt: number;
  /** False when this send repeated an earlier one (nothing new was queued). */
  fresh: boolean;
  recipient: string;
  /** The stored message as the recipient will fetch it (for the push). */
  message?: MailboxMessageRow;
}

export async function sendMessage(
  sql: Sql, senderId: string, sender: string, outgoing: Outgoing, limits: MailboxLimits, gate: RequestIdGate,
): Promise<Result<Queued> | RequestIdUsed> {
  const message = { clientId: outgoing.clientId, type: outgoing.type, envelope: outgoing.envelope };
  let result = await queueMessage(sql, senderId, outgoing.to, message, limits, gate);
  if (!result.request_recorded) return REQUEST_ID_USED;
  if (result.earlier !== null) {
    const { earlier } = result;
    return accept({ messageId: earlier.message_id, queuedAt: earlier.queued_at, fresh: false, recipient: outgoing.to });
  }
  if (result.recipient_id === null) return refuse('unknown_device', `${outgoing.to} is not enrolled`);
  // Expired messages stay in the mailbox totals until purged: without them there may be room.
  if (result.queued === null && await dropExpiredMessages(sql, result.recipient_id) > 0) {
    result = await queueMessage(sql, senderId, outgoing.to, message, limits, null);
  }
  const { queued } = result;
  if (queued === null) {
    return refuse('mailbox_full', `the mailbox of ${outgoing.to} is full (${limits.maxMessages} messages or ${limits.maxBytes} bytes)`);
  }
  if (!result.send_recorded) throw new RequestRaceError('send with the same client message id');
  return accept({
    messageId: queued.id, queuedAt: queued.queued_at, fresh: true, recipient: outgoing.to,
    message: {
      id: queued.id, sender, type: outgoing.type, envelope: outgoing.envelope, client_id: outgoing.clientId,
      queued_at: queued.queued_at,
    },
  });
}

export async function fetchMailbox(
  sql: Sql, recipientId: string, after: string | undefined, limit: number, gate: RequestIdGate,
): Promise<MailboxMessageRow[] | RequestIdUsed> {
  return await listMailboxMessages(sql, recipientId, after ?? '0', limit, gate) ?? REQUEST_ID_USED;
}

/** Deletes the acknowledged messages among the recipient's own; others' ids change nothing. */
export async function acknowledgeMessages(
  sql: Sql, recipientId: string, ids: readonly string[], gate: RequestIdGate,
): Promise<number | RequestIdUsed> {
  return await deleteAcknowledgedMessages(sql, recipientId, ids, gate) ?? REQUEST_ID_USED;
}
