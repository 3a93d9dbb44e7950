import {
  constantTimeEqual, decodeRatchetSession, encodeRatchetSession, ProtocolError, RatchetError, ratchetDecrypt, ratchetEncrypt, utf8, wireV2,
} from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { DeviceCore } from './device_core.js';
import type { Outbox } from './outbox.js';
import { makeCurrent, receivedBefore, recordReceived, replace, sessionsOf } from './session_record.js';
import type { PeerSession, SessionRecord } from './v2_state.js';

/** Lenient on purpose: a peer's bad bytes show as replacement characters rather than lose the message. */
export const textDecoder = new TextDecoder('utf-8');

/**
 * Messages of an established session. Sending: the session's next state and the envelope are saved
 * together before the envelope leaves, so no message key (ratchet key and number) is used twice.
 * Receiving: the message is opened on a copy of the state, trying the current session and then
 * the archived ones; the caller saves the advanced session with the text.
 */
export class SessionCipher {
  constructor(private readonly core: DeviceCore, private readonly outbox: Outbox) {}

  /** Sends a `session` message in the current session with `peer`. */
  async send(peer: string, text: string): Promise<void> {
    const identity = this.core.requireIdentity();
    await this.outbox.flush();
    const session = requireSession(this.core.state, peer).current;
    const { envelope, next } = seal(session, identity.publicKey, utf8.encode(text));
    const outgoing = this.outbox.message(peer, 'session', envelope);
    await this.core.update((state) => {
      const record = state.v2.sessions.get(peer);
      if (!record || !sameState(record.current, session)) {
        throw new DeviceError('NOT_READY', `the session with ${peer} changed meanwhile: send again`);
      }
      record.current = next;
      state.v2.outbox.push(outgoing);
    });
    await this.outbox.deliver(outgoing);
  }

  /** Opens a `session` message on a copy of the state and advances the session that opened it; returns its text. */
  open(state: DeviceState, message: wireV2.MailboxMessage): string {
    const identity = this.core.requireIdentity();
    const from = message.from;
    const record = state.v2.sessions.get(from);
    if (!record) throw new DeviceError('NOT_READY', `message ${message.id} from ${from}: no session with ${from} (its handshake was refused or not read yet)`);
    const decoded = wireV2.decodeSessionEnvelope(message.envelope);
    if (!decoded.ok) throw new DeviceError('SECURITY', `message ${message.id} from ${from} cannot be decrypted (malformed envelope: ${decoded.error})`);
    const envelope = decoded.value;
    const failures: ProtocolError[] = [];
    for (const session of sessionsOf(record)) {
      try {
        if (envelope.version === 2 && session.kind === 'ratchet') {
          const opened = ratchetDecrypt(decodeRatchetSession(session.ratchet), envelope.message);
          const next = { ...session, ratchet: encodeRatchetSession(opened.session) };
          replace(record, session, next);
          // The peer has moved on: from now on this device sends in a ratchet session only.
          record.ratchetAnswered = true;
          if (record.current.kind === 'shared-key') makeCurrent(record, next);
          return textDecoder.decode(opened.plaintext);
        }
        if (envelope.version === 1 && session.kind === 'shared-key') {
          const opened = wireV2.openSessionEnvelope(session.sharedKey, session.peerIdentityKey, identity.publicKey, message.envelope);
          if (receivedBefore(session, opened.n)) throw replayed(message, opened.n);
          const next = { ...session, receivedAbove: [...session.receivedAbove] };
          recordReceived(next, opened.n);
          replace(record, session, next);
          return textDecoder.decode(opened.plaintext);
        }
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        failures.push(error);
      }
    }
    throw refusal(message, envelope, failures, record);
  }
}

function seal(session: PeerSession, me: Uint8Array, plaintext: Uint8Array): { envelope: Uint8Array; next: PeerSession } {
  if (session.kind === 'ratchet') {
    const sealed = ratchetEncrypt(decodeRatchetSession(session.ratchet), plaintext);
    return {
      envelope: wireV2.encodeRatchetSessionEnvelope(sealed.message),
      next: { ...session, ratchet: encodeRatchetSession(sealed.session), sent: session.sent + 1 },
    };
  }
  const n = session.sendNext;
  return { envelope: wireV2.sealSessionEnvelope(session.sharedKey, me, session.peerIdentityKey, n, plaintext), next: { ...session, sendNext: n + 1 } };
}

/** The same session in the same state (both are copies made by different saves). */
function sameState(a: PeerSession, b: PeerSession): boolean {
  if (a.kind === 'ratchet' && b.kind === 'ratchet') return constantTimeEqual(a.ratchet, b.ratchet);
  if (a.kind === 'shared-key' && b.kind === 'shared-key') return a.sendNext === b.sendNext && constantTimeEqual(a.sharedKey, b.sharedKey);
  return false;
}

const replayed = (message: wireV2.MailboxMessage, n: number) =>
  new DeviceError('SECURITY', `message ${message.id} from ${message.from} refused: message number ${n} was accepted before (a replay)`);

/** Why no session opened the message: a replay when a ratchet says so, else the first failure. */
function refusal(message: wireV2.MailboxMessage, envelope: wireV2.AnySessionEnvelope, failures: ProtocolError[], record: SessionRecord): Error {
  if (envelope.version === 2 && failures.some((f) => f instanceof RatchetError && f.code === 'DUPLICATE')) return replayed(message, envelope.message.header.n);
  const which = envelope.version === 2 ? 'a Double Ratchet message' : 'an envelope version 1 message';
  const why = failures.length === 0 ? `no session with ${record.peer} of its kind` : failures[0]!.message;
  return new DeviceError('SECURITY', `message ${message.id} from ${message.from} cannot be decrypted (${which}: ${why})`);
}

export function requireSession(state: DeviceState, peer: string): SessionRecord {
  const record = state.v2.sessions.get(peer);
  if (!record) throw new DeviceError('NOT_READY', `no shared key with ${peer}: Start Chat or Check Inbox first`);
  return record;
}
