import { RequestRaceError } from '../processing/request_race.js';
import type { Sql } from '../storage/database.js';
import {
  deleteAcknowledgedMessages, dropExpiredMessages, listMailboxMessages, queueMessage,
  type MailboxLimits, type MailboxMessageRow, type QueueResult,
} from '../storage/queries/mailbox_message_queries.js';
import type { RequestIdGate } from '../storage/queries/request_id_queries.js';
import { accept, refuse, REQUEST_ID_USED, type Refusal, type RequestIdUsed, type Result } from './refusal.js';

/**
 * The v2 mailbox (docs/protocol-v2.md sections 6.7, 6.8): messages wait per recipient, oldest
 * first, until the recipient acknowledges them by id or they expire. A send is idempotent by
 * (sender, client message id), also after the message was acknowledged.
 *
 * No sender can take a recipient's whole mailbox: each has a quota of waiting messages and a rate
 * per recipient. A sender the recipient has never written to (a stranger: the server sees only
 * who sent to whom, and a recipient writes back only to senders it accepted) has a smaller quota,
 * and all strangers together at most their share, so junk from new names, however many, leaves
 * room for the recipient's correspondents.
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
  const refusal = quotaRefusal(result, outgoing.to, limits);
  if (refusal !== null) return refusal;
  // Expired messages stay in the mailbox totals until purged: without them there may be room.
  if (result.queued === null && await dropExpiredMessages(sql, result.recipient_id) > 0) {
    result = await queueMessage(sql, senderId, outgoing.to, message, limits, null);
  }
  const { queued } = result;
  if (queued === null) {
    return refuse('mailbox_full', result.correspondent
      ? `the mailbox of ${outgoing.to} is full (${limits.maxMessages} messages or ${limits.maxBytes} bytes)`
      : `the mailbox of ${outgoing.to} is full, or its room for senders it has not written to (${limits.strangers} messages)`);
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

/**
 * The sender's own quota or rate said no (before the mailbox's totals were looked at): the
 * sender's messages already waiting for the recipient, or its sends to it in a short time.
 */
function quotaRefusal(result: QueueResult, to: string, limits: MailboxLimits): Refusal | null {
  if (!result.within_quota) {
    const quota = result.correspondent ? limits.perCorrespondent : limits.perStranger;
    return refuse('mailbox_full', `${quota} of your messages already wait for ${to}` +
      (result.correspondent ? '' : ', which has not written to you; they leave as it acknowledges them'));
  }
  if (result.wait_ms !== null) {
    const wait = Math.ceil(result.wait_ms);
    return refuse('rate_limited', `too many messages to ${to}; retry in ${Math.ceil(wait / 1000)} s`, wait);
  }
  return null;
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
