import { constantTimeEqual, ProtocolError, utf8, wireV2 } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import { checkPeerName, type DeviceCore } from './device_core.js';
import { checkPinned, directoryKey, pinOnFirstUse } from './identity_key_store.js';
import { identityKey, sharedKey, signedPreKeyPublic } from './keys.js';
import type { Outbox } from './outbox.js';
import { crossedHandshake, newSession } from './session_record.js';
import { textDecoder } from './session_cipher.js';

/** An initial message decoded and its sender's key checked against the directory (when not pinned yet). */
export interface CheckedInitial {
  message: wireV2.MailboxMessage;
  envelope: wireV2.InitialEnvelope;
}

/**
 * X3DH on both sides: the initiator's first message from the peer's bundle, and the responder's
 * acceptance of an `x3dh.initial` message into a session.
 */
export class SessionBuilder {
  constructor(private readonly core: DeviceCore, private readonly outbox: Outbox) {}

  /**
   * X3DH as initiator: fetches the peer's bundle, checks the peer's identity key against the pinned
   * one (pinning it on first contact), aborts on a bad signed-prekey signature or an all-zero DH,
   * and sends the first text as an `x3dh.initial` message. The session and the envelope (with its
   * client message id) are saved before sending, so a resend is queued once.
   */
  async start(peer: string, text: string): Promise<{ oneTimePreKeyId: number | null; identityChanged: false }> {
    const identity = this.core.requireIdentity();
    checkPeerName(peer);
    await this.outbox.flush();
    const bundle = await this.core.call('bundle.fetch', { device: peer });
    const peerKey = identityKey(bundle.identity_key);
    checkPinned(this.core.state, peer, peerKey);
    let sealed: ReturnType<typeof wireV2.sealInitialEnvelope>;
    try {
      sealed = wireV2.sealInitialEnvelope(identity, {
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
    const outgoing = this.outbox.message(peer, 'x3dh.initial', wireV2.encodeInitialEnvelope(sealed.envelope));
    await this.core.update((state) => {
      checkPinned(state, peer, peerKey);
      pinOnFirstUse(state, peer, peerKey, this.core.now());
      state.v2.sessions.set(peer, newSession(peer, sharedKey(sealed.sharedKey), peerKey, 'initiator', this.core.now()));
      state.v2.outbox.push(outgoing);
    });
    await this.outbox.deliver(outgoing);
    return { oneTimePreKeyId: sealed.envelope.oneTimePreKeyId, identityChanged: false };
  }

  /**
   * The checks of an initial message that need the server: the envelope is decoded and, when its
   * sender is not pinned yet, its identity key must be the directory's.
   */
  async check(message: wireV2.MailboxMessage): Promise<CheckedInitial> {
    const decoded = wireV2.decodeInitialEnvelope(message.envelope);
    if (!decoded.ok) throw refused(message, `malformed envelope (${decoded.error})`);
    const envelope = decoded.value;
    if (!this.core.state.v2.pins.has(message.from)) {
      if (!constantTimeEqual(await directoryKey(this.core, message.from), envelope.identityKey)) {
        throw refused(message, `its identity key is not the one the directory holds for ${message.from}`);
      }
    }
    return { message, envelope };
  }

  /**
   * X3DH as responder (section 3.4 of the X3DH specification, section 7.1 of the v2 document), on
   * a copy of the state: sets the session and the pin, records the handshake against replays and
   * deletes the one-time prekey; returns the first text. Throws, changing nothing that is kept, when
   * any check fails.
   */
  accept(state: DeviceState, { message, envelope }: CheckedInitial): string {
    const identity = this.core.requireIdentity();
    const from = message.from;
    const peerKey = identityKey(envelope.identityKey);
    checkPinned(state, from, peerKey);
    const spk = state.signedPreKeys.find((k) => k.id === envelope.signedPreKeyId);
    if (!spk) throw refused(message, `it names signed prekey ${envelope.signedPreKeyId}, which this device does not hold (expired or never published)`);
    const opkId = envelope.oneTimePreKeyId;
    const opk = opkId === null ? undefined : state.oneTimePreKeys.get(opkId);
    if (opkId !== null && !opk) throw refused(message, `it names one-time prekey ${opkId}, which this device does not hold (used already or never published)`);
    if (state.v2.acceptedHandshakes.some((h) => h.signedPreKeyId === spk.id && constantTimeEqual(h.ephemeralKey, envelope.ephemeralKey))) {
      throw refused(message, 'it is a replay of a handshake accepted before');
    }
    let opened: { sharedKey: Uint8Array; plaintext: Uint8Array };
    try {
      opened = wireV2.openInitialEnvelope({ identity, signedPreKey: spk.keyPair.privateKey, oneTimePreKey: opk?.privateKey }, envelope);
    } catch (error) {
      if (error instanceof ProtocolError) throw refused(message, `it cannot be decrypted (${error.message})`);
      throw error;
    }
    const now = this.core.now();
    pinOnFirstUse(state, from, peerKey, now);
    if (!crossedHandshake(state, from)) state.v2.sessions.set(from, newSession(from, sharedKey(opened.sharedKey), peerKey, 'responder', now));
    if (opkId !== null) state.oneTimePreKeys.delete(opkId);
    state.v2.acceptedHandshakes.push({ signedPreKeyId: spk.id, ephemeralKey: envelope.ephemeralKey });
    return textDecoder.decode(opened.plaintext);
  }
}

const refused = (message: wireV2.MailboxMessage, why: string) => new DeviceError('SECURITY', `initial message ${message.id} from ${message.from} refused: ${why}`);
