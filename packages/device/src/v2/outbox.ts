import { activeBackend, constantTimeEqual, encodeBase64url, wireV2 } from '@x3dh-iot/protocol';
import { DeviceError } from '../errors.js';
import type { DeviceCore } from './device_core.js';
import { V2RequestError } from './v2_client.js';
import type { OutgoingMessage } from './v2_state.js';

/**
 * Messages saved before they are sent: a message's envelope and client id are in the key store
 * before `message.send`, so a resend after a lost answer or a crash carries the same id and the
 * server queues it once.
 */
export class Outbox {
  constructor(private readonly core: DeviceCore, private readonly problem: (error: Error) => void) {}

  /** A new outgoing message with a fresh client id; the caller saves it in the outbox before `deliver`. */
  message(to: string, type: OutgoingMessage['type'], envelope: Uint8Array): OutgoingMessage {
    return { id: activeBackend.randomBytes(wireV2.MESSAGE_ID_BYTES), to, type, envelope, createdAt: this.core.now() };
  }

  /**
   * Sends the saved messages in order. A refusal that cannot change (the recipient was deleted) drops
   * that message and is reported as a problem, so it does not stand in the way of the next send; a
   * passing failure stops the flush, keeping the order.
   */
  async flush(): Promise<void> {
    for (const outgoing of [...this.core.state.v2.outbox]) {
      try {
        await this.deliver(outgoing);
      } catch (error) {
        if (this.core.state.v2.outbox.some((m) => sameId(m, outgoing))) throw error;
        this.problem(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /** Sends one saved message and removes it from the outbox once the server took it (or refused it for good). */
  async deliver(outgoing: OutgoingMessage): Promise<void> {
    try {
      await this.core.call('message.send', {
        to: outgoing.to, id: encodeBase64url(outgoing.id), type: outgoing.type, envelope: encodeBase64url(outgoing.envelope),
      });
    } catch (error) {
      const lasting = error instanceof V2RequestError && !['mailbox_full', 'rate_limited', 'unavailable', 'internal'].includes(error.code);
      if (lasting) await this.core.update((state) => { state.v2.outbox = state.v2.outbox.filter((m) => m !== outgoing && !sameId(m, outgoing)); });
      if (error instanceof DeviceError && !lasting) {
        throw new DeviceError(error.kind, `${error.message}; the message to ${outgoing.to} is saved and will be sent again with the next send or read`, { cause: error });
      }
      throw error;
    }
    await this.core.update((state) => { state.v2.outbox = state.v2.outbox.filter((m) => !sameId(m, outgoing)); });
  }
}

const sameId = (a: OutgoingMessage, b: OutgoingMessage) => constantTimeEqual(a.id, b.id);
