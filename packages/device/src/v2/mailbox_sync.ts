import { wireV2 } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { DeviceCore } from './device_core.js';
import type { SessionBuilder } from './session_builder.js';
import type { SessionCipher } from './session_cipher.js';

/** Mailbox ids remembered after handling them; a redelivery comes long before this many newer messages. */
const HANDLED_IDS_KEPT = 1000;

/** A mailbox message that was not accepted; it stays in the mailbox (unacknowledged) until it expires. */
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
      }
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

function received(state: DeviceState, message: wireV2.MailboxMessage, kind: 'handshake' | 'message', text: string, now: Date): void {
  state.v2.handledMailboxIds.push(message.id);
  if (state.v2.handledMailboxIds.length > HANDLED_IDS_KEPT) state.v2.handledMailboxIds.splice(0, state.v2.handledMailboxIds.length - HANDLED_IDS_KEPT);
  state.v2.unread.push({ mailboxId: message.id, peer: message.from, kind, text, receivedAt: now });
}
