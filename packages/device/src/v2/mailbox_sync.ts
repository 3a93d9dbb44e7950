import { wireV2 } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { DeviceCore } from './device_core.js';
import type { RefusedMessage } from './v2_state.js';
import type { SessionBuilder } from './session_builder.js';
import type { SessionCipher } from './session_cipher.js';

/** Mailbox ids remembered after handling them; a redelivery comes long before this many newer messages. */
const HANDLED_IDS_KEPT = 1000;
/** Refused messages kept for the user to see (status), newest last. */
const REFUSED_KEPT = 100;

/**
 * A mailbox message that was not accepted. One that failed its checks (SECURITY) is recorded and
 * acknowledged; any other stays in the mailbox (unacknowledged) until it is accepted or expires.
 */
export interface MailboxProblem {
  mailboxId: string;
  peer: string;
  error: DeviceError;
}

export interface MailboxReport {
  accepted: number;
  problems: MailboxProblem[];
}

/**
 * Reads the mailbox at least once: each message is accepted on a copy of the state, and its
 * session change, its text (as unread) and its mailbox id are saved in one write before the
 * mailbox copy is acknowledged. A redelivered message is dropped by its id and acknowledged again.
 */
export class MailboxSync {
  constructor(
    private readonly core: DeviceCore,
    private readonly builder: SessionBuilder,
    private readonly cipher: SessionCipher,
    private readonly onAccepted: () => void,
  ) {}

  /** Every page of the mailbox; messages that cannot be accepted stay in the mailbox and are reported. */
  sync(): Promise<MailboxReport> {
    return this.core.exclusive(async () => {
      const report: MailboxReport = { accepted: 0, problems: [] };
      let after: string | undefined;
      for (;;) {
        const { messages } = await this.core.call('mailbox.fetch', { ...(after === undefined ? {} : { after }), limit: wireV2.MAX_MAILBOX_FETCH });
        await this.handle(messages, report);
        if (messages.length < wireV2.MAX_MAILBOX_FETCH) return report;
        after = messages.at(-1)!.id;
      }
    });
  }

  /** A pushed message, accepted at once (the mailbox stays authoritative). */
  pushed(message: wireV2.MailboxMessage): Promise<MailboxReport> {
    return this.core.exclusive(async () => {
      const report: MailboxReport = { accepted: 0, problems: [] };
      await this.handle([message], report);
      return report;
    });
  }

  private async handle(messages: wireV2.MailboxMessage[], report: MailboxReport): Promise<void> {
    const acknowledge: string[] = [];
    const refused: RefusedMessage[] = [];
    for (const message of messages) {
      if (this.core.state.v2.handledMailboxIds.includes(message.id)) {
        // Accepted and saved before; its acknowledgement was lost. Drop it and acknowledge again.
        acknowledge.push(message.id);
        continue;
      }
      try {
        await this.accept(message);
        report.accepted += 1;
        acknowledge.push(message.id);
      } catch (error) {
        // Without the server (a directory lookup that got no answer) the batch stops; it is read again later.
        if (!(error instanceof DeviceError) || error.kind === 'UNREACHABLE') throw error;
        report.problems.push({ mailboxId: message.id, peer: message.from, error });
        // A message that fails its checks (SECURITY) fails them at every reading: it is recorded and
        // acknowledged, so that junk cannot fill the mailbox. Others wait in the mailbox: no session
        // yet (NOT_READY: its handshake may come later), or a changed key the user has not accepted yet.
        if (error.kind === 'SECURITY') refused.push({ mailboxId: message.id, peer: message.from, reason: error.message, refusedAt: this.core.now() });
      }
    }
    if (refused.length > 0) {
      await this.core.update((state) => {
        for (const refusal of refused) {
          state.v2.refused.push(refusal);
          markHandled(state, refusal.mailboxId);
        }
        if (state.v2.refused.length > REFUSED_KEPT) state.v2.refused.splice(0, state.v2.refused.length - REFUSED_KEPT);
      });
      acknowledge.push(...refused.map((refusal) => refusal.mailboxId));
    }
    if (report.accepted > 0) this.onAccepted();
    for (let i = 0; i < acknowledge.length; i += wireV2.MAX_ACK_IDS) {
      await this.core.call('mailbox.ack', { ids: acknowledge.slice(i, i + wireV2.MAX_ACK_IDS) });
    }
  }

  /** Every check runs on a copy of the state inside one update, so a failure saves nothing and deletes nothing. */
  private async accept(message: wireV2.MailboxMessage): Promise<void> {
    if (message.type === 'x3dh.initial') {
      const checked = await this.builder.check(message);
      await this.core.update((state) => received(state, message, 'handshake', this.builder.accept(state, checked), this.core.now()));
    } else {
      await this.core.update((state) => received(state, message, 'message', this.cipher.open(state, message), this.core.now()));
    }
  }
}

function markHandled(state: DeviceState, mailboxId: string): void {
  state.v2.handledMailboxIds.push(mailboxId);
  if (state.v2.handledMailboxIds.length > HANDLED_IDS_KEPT) state.v2.handledMailboxIds.splice(0, state.v2.handledMailboxIds.length - HANDLED_IDS_KEPT);
}

function received(state: DeviceState, message: wireV2.MailboxMessage, kind: 'handshake' | 'message', text: string, now: Date): void {
  markHandled(state, message.id);
  state.v2.unread.push({ mailboxId: message.id, peer: message.from, kind, text, receivedAt: now });
}
