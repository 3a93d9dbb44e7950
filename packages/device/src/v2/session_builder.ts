import { constantTimeEqual, encodeRatchetSession, ProtocolError, utf8, wireV2 } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import { checkPeerName, type DeviceCore } from './device_core.js';
import { admitIdentity, vouchedKey, type VouchedKey } from './identity_certificates.js';
import { checkPinned, directoryKey } from './identity_key_store.js';
import { identityKey, type IdentityKey, sharedKey, signedPreKeyPublic } from './keys.js';
import type { Outbox } from './outbox.js';
import { textDecoder } from './session_cipher.js';
import { archive, crossedHandshake, promote, ratchetSession, sharedKeySession } from './session_record.js';
import type { PeerSession } from './v2_state.js';

/** An initial message decoded and its sender's key checked against the directory (when not pinned yet). */
export interface CheckedInitial {
  message: wireV2.MailboxMessage;
  initial: wireV2.AnyInitialEnvelope;
  /** The directory's certified key for the sender, when the check asked the directory. */
  vouched: VouchedKey | null;
}

/**
 * X3DH on both sides: the initiator's first message from the peer's bundle, and the responder's
 * acceptance of an `x3dh.initial` message into a session. New sessions are Double Ratchet
 * sessions; an initial message of the earlier form (the first text sealed under the X3DH key) from
 * a peer that has not moved on yet still opens a session of envelope version 1.
 */
export class SessionBuilder {
  constructor(private readonly core: DeviceCore, private readonly outbox: Outbox) {}

  /**
   * X3DH as initiator: fetches the peer's bundle, checks its identity certificate and the epoch
   * rule against the pinned key (pinning it on first contact, and a newer certified key at once:
   * `certifiedRotation`), aborts on a bad signed-prekey signature or an all-zero DH,
   * and sends the first text as ratchet message 0 in an `x3dh.initial` message. The session (the
   * one it replaces is archived) and the envelope (with its client message id) are saved before
   * sending, so a resend is queued once.
   */
  async start(peer: string, text: string): Promise<{ oneTimePreKeyId: number | null; identityChanged: false; certifiedRotation: boolean }> {
    const identity = this.core.requireIdentity();
    checkPeerName(peer);
    await this.outbox.flush();
    const bundle = await this.core.call('bundle.fetch', { device: peer });
    if (bundle.device !== peer) throw new DeviceError('SECURITY', `the server answered the bundle of ${bundle.device} when asked for ${peer}: refused`);
    const peerKey = identityKey(bundle.identity_key);
    const vouched = vouchedKey(this.core.provisioning, peer, peerKey, bundle.certificate);
    admitIdentity(structuredClone(this.core.state), peer, vouched, this.core.now());
    let sealed: ReturnType<typeof wireV2.sealRatchetInitialEnvelope>;
    try {
      sealed = wireV2.sealRatchetInitialEnvelope(identity, {
        // The name asked for, not the one answered: a signed prekey relabelled to this name is refused.
        device: peer,
        identityKey: peerKey,
        signedPreKey: signedPreKeyPublic(bundle.signed_prekey.key),
        signedPreKeySignature: bundle.signed_prekey.signature,
        signedPreKeyId: bundle.signed_prekey.id,
        oneTimePreKey: bundle.one_time_prekey && { id: bundle.one_time_prekey.id, publicKey: bundle.one_time_prekey.key },
      }, utf8.encode(text));
    } catch (error) {
      if (error instanceof ProtocolError) throw new DeviceError('SECURITY', `cannot start a session with ${peer}: ${error.message}`, { cause: error });
      throw error;
    }
    const outgoing = this.outbox.message(peer, 'x3dh.initial', wireV2.encodeRatchetInitialEnvelope(sealed.envelope));
    let certifiedRotation = false;
    await this.core.update((state) => {
      const now = this.core.now();
      certifiedRotation = admitIdentity(state, peer, vouched, now).rotated;
      adopt(state, peer, ratchetSession(encodeRatchetSession(sealed.session), peerKey, 'initiator', now), false);
      state.v2.outbox.push(outgoing);
    });
    await this.outbox.deliver(outgoing);
    return { oneTimePreKeyId: sealed.envelope.oneTimePreKeyId, identityChanged: false, certifiedRotation };
  }

  /**
   * The checks of an initial message that need the server: the envelope is decoded and, when its
   * sender is not pinned yet, its identity key must be the directory's (certified). A key other
   * than the pinned one is asked of the directory too: if the directory still holds the pinned key,
   * the message is a forgery (refused for good, so it raises no lasting alarm); a key the directory
   * now holds with a newer certificate is a rotation the operator approved (pinned by accept); a
   * changed key without one waits for the user's decision (IDENTITY_CHANGED).
   */
  async check(message: wireV2.MailboxMessage): Promise<CheckedInitial> {
    const decoded = wireV2.decodeAnyInitialEnvelope(message.envelope);
    if (!decoded.ok) throw refused(message, `malformed envelope (${decoded.error})`);
    const initial = decoded.value;
    const pin = this.core.state.v2.pins.get(message.from);
    if (pin === undefined || !constantTimeEqual(pin.identityKey, initial.envelope.identityKey)) {
      const directory = await directoryKey(this.core, message.from);
      if (pin === undefined && !constantTimeEqual(directory.key, initial.envelope.identityKey)) {
        throw refused(message, `its identity key is not the one the directory holds for ${message.from}`);
      }
      if (pin !== undefined && constantTimeEqual(directory.key, pin.identityKey)) {
        throw refused(message, `its identity key is neither the one pinned for ${message.from} nor the directory's: a forged message`);
      }
      if (constantTimeEqual(directory.key, initial.envelope.identityKey)) return { message, initial, vouched: directory };
    }
    return { message, initial, vouched: null };
  }

  /**
   * X3DH as responder (section 3.4 of the X3DH specification, section 7.1 of the v2 document), on
   * a copy of the state: opens the first message, sets the session and the pin, records the
   * handshake against replays and deletes the one-time prekey; returns the first text. Throws,
   * changing nothing that is kept, when any check fails.
   */
  accept(state: DeviceState, { message, initial, vouched }: CheckedInitial): string {
    const identity = this.core.requireIdentity();
    const from = message.from;
    const { envelope } = initial;
    const peerKey = identityKey(envelope.identityKey);
    // The directory's certified key (pinned here, or a newer epoch replacing the pin); else the pinned key.
    if (vouched !== null) admitIdentity(state, from, vouched, this.core.now());
    checkPinned(state, from, peerKey);
    const spk = state.signedPreKeys.find((k) => k.id === envelope.signedPreKeyId);
    if (!spk) throw refused(message, `it names signed prekey ${envelope.signedPreKeyId}, which this device does not hold (expired or never published)`);
    const opkId = envelope.oneTimePreKeyId;
    const opk = opkId === null ? undefined : state.oneTimePreKeys.get(opkId);
    if (opkId !== null && !opk) throw refused(message, `it names one-time prekey ${opkId}, which this device does not hold (used already or never published)`);
    if (state.v2.acceptedHandshakes.some((h) => h.signedPreKeyId === spk.id && constantTimeEqual(h.ephemeralKey, envelope.ephemeralKey))) {
      throw refused(message, 'it is a replay of a handshake accepted before');
    }
    const keys = { identity, signedPreKey: spk.keyPair.privateKey, oneTimePreKey: opk?.privateKey };
    const now = this.core.now();
    let opened: { session: PeerSession; plaintext: Uint8Array };
    try {
      opened = initial.form === 'ratchet' ? openRatchet(keys, initial.envelope, peerKey, now) : openSharedKey(keys, initial.envelope, peerKey, now);
    } catch (error) {
      if (error instanceof ProtocolError) throw refused(message, `it cannot be decrypted (${error.message})`);
      throw error;
    }
    adopt(state, from, opened.session, true);
    if (opkId !== null) state.oneTimePreKeys.delete(opkId);
    state.v2.acceptedHandshakes.push({ signedPreKeyId: spk.id, ephemeralKey: envelope.ephemeralKey });
    return textDecoder.decode(opened.plaintext);
  }
}

type ResponderKeys = Parameters<typeof wireV2.openInitialEnvelope>[0];

function openRatchet(keys: ResponderKeys, envelope: wireV2.RatchetInitialEnvelope, peerKey: IdentityKey, now: Date) {
  const opened = wireV2.openRatchetInitialEnvelope(keys, envelope);
  return { session: ratchetSession(encodeRatchetSession(opened.session), peerKey, 'responder', now), plaintext: opened.plaintext };
}

function openSharedKey(keys: ResponderKeys, envelope: wireV2.InitialEnvelope, peerKey: IdentityKey, now: Date) {
  const opened = wireV2.openInitialEnvelope(keys, envelope);
  return { session: sharedKeySession(sharedKey(opened.sharedKey), peerKey, 'responder', now), plaintext: opened.plaintext };
}

/**
 * Makes a new session the current one with `peer`, archiving the one it replaces. A received
 * handshake is archived instead (the current session stays) when it is of envelope version 1 and
 * the peer has already sent a ratchet message (a delayed or replayed old-form handshake never
 * brings back `"v":1` sending), or when it crossed this device's own handshake of the same kind
 * (crossedHandshake). A ratchet handshake always replaces a version-1 session.
 */
function adopt(state: DeviceState, peer: string, session: PeerSession, received: boolean): void {
  const record = state.v2.sessions.get(peer);
  const ratchet = received && session.kind === 'ratchet';
  if (!record) {
    state.v2.sessions.set(peer, { peer, current: session, archived: [], ratchetAnswered: ratchet });
    return;
  }
  record.ratchetAnswered ||= ratchet;
  const keepCurrent = received && (session.kind === 'shared-key'
    ? record.ratchetAnswered || (record.current.kind === 'shared-key' && crossedHandshake(record, state.username, peer))
    : record.current.kind === 'ratchet' && crossedHandshake(record, state.username, peer));
  if (keepCurrent) archive(record, session);
  else promote(record, session);
}

const refused = (message: wireV2.MailboxMessage, why: string) => new DeviceError('SECURITY', `initial message ${message.id} from ${message.from} refused: ${why}`);
