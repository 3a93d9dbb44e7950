import { RequestRaceError } from '../processing/request_race.js';
import type { Sql } from '../storage/database.js';
import {
  deleteAcknowledgedMessages, findSentMessage, insertMailboxMessage, insertSentMessage, listMailboxMessages,
  type MailboxLimits, type MailboxMessageRow,
} from '../storage/queries/mailbox_message_queries.js';
import { findDevice, lockDevice } from '../storage/queries/v2_device_queries.js';
import { accept, refuse, type Result } from './refusal.js';

/**
 * The v2 mailbox (docs/protocol-v2.md sections 6.7, 6.8): messages wait per recipient, oldest
 * first, until the recipient acknowledges them by id or they expire. A send is idempotent by
 * (sender, client message id), also after the message was acknowledged.
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
  sql: Sql, senderId: string, sender: string, outgoing: Outgoing, limits: MailboxLimits,
): Promise<Result<Queued>> {
  const earlier = await findSentMessage(sql, senderId, outgoing.clientId);
  if (earlier !== null) {
    return accept({ messageId: earlier.message_id, queuedAt: earlier.queued_at, fresh: false, recipient: outgoing.to });
  }
  const recipient = await findDevice(sql, outgoing.to);
  if (recipient === null || recipient.deleted) return refuse('unknown_device', `${outgoing.to} is not enrolled`);
  // Sends to one recipient take turns, so that concurrent ones cannot overfill the mailbox together.
  await lockDevice(sql, recipient.id);
  const queued = await insertMailboxMessage(sql, {
    recipientId: recipient.id, senderId, clientId: outgoing.clientId, type: outgoing.type, envelope: outgoing.envelope,
  }, limits);
  if (queued === null) {
    return refuse('mailbox_full', `the mailbox of ${outgoing.to} is full (${limits.maxMessages} messages or ${limits.maxBytes} bytes)`);
  }
  if (!await insertSentMessage(sql, senderId, outgoing.clientId, queued.id, limits.retentionSeconds)) {
    throw new RequestRaceError('send with the same client message id');
  }
  return accept({
    messageId: queued.id, queuedAt: queued.queued_at, fresh: true, recipient: outgoing.to,
    message: {
      id: queued.id, sender, type: outgoing.type, envelope: outgoing.envelope, client_id: outgoing.clientId,
      queued_at: queued.queued_at,
    },
  });
}

export function fetchMailbox(sql: Sql, recipientId: string, after: string | undefined, limit: number): Promise<MailboxMessageRow[]> {
  return listMailboxMessages(sql, recipientId, after ?? '0', limit);
}

/** Deletes the acknowledged messages among the recipient's own; others' ids change nothing. */
export function acknowledgeMessages(sql: Sql, recipientId: string, ids: readonly string[]): Promise<number> {
  return deleteAcknowledgedMessages(sql, recipientId, ids);
}
