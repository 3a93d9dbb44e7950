import { RequestRaceError } from '../processing/request_race.js';
import type { Sql } from '../storage/database.js';
import {
  deleteAcknowledgedMessages, findSendTarget, insertMailboxMessage, listMailboxMessages,
  type MailboxLimits, type MailboxMessageRow,
} from '../storage/queries/mailbox_message_queries.js';
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
  const target = await findSendTarget(sql, senderId, outgoing.clientId, outgoing.to);
  if (target.earlier !== null) {
    const { earlier } = target;
    return accept({ messageId: earlier.message_id, queuedAt: earlier.queued_at, fresh: false, recipient: outgoing.to });
  }
  if (target.recipient_id === null) return refuse('unknown_device', `${outgoing.to} is not enrolled`);
  // Sends to one recipient take turns (findSendTarget locked it), so that concurrent ones cannot overfill the mailbox together.
  const queued = await insertMailboxMessage(sql, {
    recipientId: target.recipient_id, senderId, clientId: outgoing.clientId, type: outgoing.type, envelope: outgoing.envelope,
  }, limits);
  if (queued === null) {
    return refuse('mailbox_full', `the mailbox of ${outgoing.to} is full (${limits.maxMessages} messages or ${limits.maxBytes} bytes)`);
  }
  if (!queued.recorded) throw new RequestRaceError('send with the same client message id');
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
