import { constantTimeEqual, ProtocolError, utf8, wireV2 } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { DeviceCore } from './device_core.js';
import type { Outbox } from './outbox.js';
import { receivedBefore, recordReceived } from './session_record.js';
import type { V2Session } from './v2_state.js';

/** Lenient on purpose: a peer's bad bytes show as replacement characters rather than lose the message. */
export const textDecoder = new TextDecoder('utf-8');

/** Messages of an established session: sealed with a number taken and saved first, opened at most once. */
export class SessionCipher {
  constructor(private readonly core: DeviceCore, private readonly outbox: Outbox) {}

  /** Sends a `session` message: its number is taken and the envelope saved before it goes out. */
  async send(peer: string, text: string): Promise<void> {
    const identity = this.core.requireIdentity();
    await this.outbox.flush();
    const session = requireSession(this.core.state, peer);
    const n = session.sendNext;
    const envelope = wireV2.sealSessionEnvelope(session.sharedKey, identity.publicKey, session.peerIdentityKey, n, utf8.encode(text));
    const outgoing = this.outbox.message(peer, 'session', envelope);
    await this.core.update((state) => {
      const current = state.v2.sessions.get(peer);
      if (!current || current.sendNext !== n || !constantTimeEqual(current.sharedKey, session.sharedKey)) {
        throw new DeviceError('NOT_READY', `the session with ${peer} changed meanwhile: send again`);
      }
      current.sendNext = n + 1;
      state.v2.outbox.push(outgoing);
    });
    await this.outbox.deliver(outgoing);
  }

  /** Opens a `session` message on a copy of the state, refusing a number accepted before; returns its text. */
  open(state: DeviceState, message: wireV2.MailboxMessage): string {
    const identity = this.core.requireIdentity();
    const from = message.from;
    const session = state.v2.sessions.get(from);
    if (!session) throw new DeviceError('NOT_READY', `message ${message.id} from ${from}: no session with ${from} (its handshake was refused or not read yet)`);
    let opened: { n: number; plaintext: Uint8Array };
    try {
      opened = wireV2.openSessionEnvelope(session.sharedKey, session.peerIdentityKey, identity.publicKey, message.envelope);
    } catch (error) {
      if (error instanceof ProtocolError) throw new DeviceError('SECURITY', `message ${message.id} from ${from} cannot be decrypted (${error.message})`, { cause: error });
      throw error;
    }
    if (receivedBefore(session, opened.n)) {
      throw new DeviceError('SECURITY', `message ${message.id} from ${from} refused: message number ${opened.n} was accepted before (a replay)`);
    }
    recordReceived(session, opened.n);
    return textDecoder.decode(opened.plaintext);
  }
}

export function requireSession(state: DeviceState, peer: string): V2Session {
  const session = state.v2.sessions.get(peer);
  if (!session) throw new DeviceError('NOT_READY', `no shared key with ${peer}: Start Chat or Check Inbox first`);
  return session;
}
