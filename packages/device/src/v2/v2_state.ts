import type { KeyPair } from '@x3dh-iot/protocol';
import type { IdentityKey, SharedKey } from './keys.js';

/**
 * What a v2 device keeps besides the keys it shares with v1 (identity, signed and one-time
 * prekeys). Everything here is saved in the same atomic write as the keys it goes with, so a
 * crash never separates a session from the deletion of the one-time prekey that opened it, or a
 * received text from the mailbox acknowledgement that follows it.
 */
export interface V2State {
  /** Peers' identity keys, first seen (trust on first use) or explicitly accepted, by peer name. */
  pins: Map<string, PinnedIdentity>;
  /** By peer name: the sessions with that peer, the current one and archived ones (session_record.ts). */
  sessions: Map<string, SessionRecord>;
  /**
   * (signed prekey id, ephemeral key) of every initial message accepted, kept as long as that
   * signed prekey is, so a replayed initial message is refused.
   */
  acceptedHandshakes: AcceptedHandshake[];
  /** Mailbox ids already handled (newest last, bounded), so a redelivered message is dropped. */
  handledMailboxIds: string[];
  /** Messages saved before they are sent, so a resend carries the same client id and is queued once. */
  outbox: OutgoingMessage[];
  /** Received texts not shown yet: the mailbox copy is acknowledged once they are saved here. */
  unread: UnreadText[];
  /**
   * Messages refused for good (newest last, bounded), recorded before their mailbox copy is
   * acknowledged: refused junk must not fill the mailbox, and the user can still see what came.
   */
  refused: RefusedMessage[];
  /**
   * A new identity key offered to the server by `identity.rotate` and not yet confirmed: kept so a
   * lost answer or a crash cannot leave the server with a key this device no longer has.
   */
  pendingIdentity: KeyPair | null;
}

export interface PinnedIdentity {
  identityKey: IdentityKey;
  pinnedAt: Date;
  /** When the user confirmed this key by its safety number (`trust`); absent for a key pinned on first use. */
  verifiedAt?: Date | undefined;
  /** The highest certificate epoch seen for this peer (docs/protocol-v2.md section 6.11); absent for a key trusted on first use. */
  epoch?: number | undefined;
  /** When this key replaced the previous one by an operator-certified rotation (a higher epoch), without a person. */
  certifiedRotationAt?: Date | undefined;
}

/**
 * Every session with one peer, as libsignal's SessionRecord keeps them: the current session is the
 * one messages are sent in; archived ones (newest first, bounded) still open messages in flight in
 * them, such as those of a crossed handshake or of a session the peer replaced.
 */
export interface SessionRecord {
  peer: string;
  current: PeerSession;
  archived: PeerSession[];
  /**
   * The peer has sent this device a Double Ratchet message: it has moved on from envelope version 1,
   * so no `"v":1` envelope is sent to it again.
   */
  ratchetAnswered: boolean;
}

export type PeerSession = SharedKeySession | RatchetSessionState;

interface SessionCommon {
  peerIdentityKey: IdentityKey;
  role: 'initiator' | 'responder';
  establishedAt: Date;
}

/** A session of envelope version 1 (started before the Double Ratchet): every message under the X3DH key. */
export interface SharedKeySession extends SessionCommon {
  kind: 'shared-key';
  sharedKey: SharedKey;
  /** The next message number this device sends. */
  sendNext: number;
  /** Every received number below this one is refused. */
  receivedFloor: number;
  /** Received numbers at or above the floor that were accepted (ascending). */
  receivedAbove: number[];
}

/** A Double Ratchet session (../shared/spec/ratchet-v2.md). */
export interface RatchetSessionState extends SessionCommon {
  kind: 'ratchet';
  /** The ratchet state in its compact binary form (encodeRatchetSession). */
  ratchet: Uint8Array;
  /** Messages this device sent in the session. */
  sent: number;
}

export interface AcceptedHandshake {
  signedPreKeyId: number;
  ephemeralKey: Uint8Array;
}

export interface OutgoingMessage {
  /** The client message id (16 random bytes). */
  id: Uint8Array;
  to: string;
  type: 'x3dh.initial' | 'session';
  envelope: Uint8Array;
  createdAt: Date;
}

export interface UnreadText {
  mailboxId: string;
  peer: string;
  /** The first text of a handshake, or a later message. */
  kind: 'handshake' | 'message';
  text: string;
  receivedAt: Date;
}

export interface RefusedMessage {
  mailboxId: string;
  peer: string;
  reason: string;
  refusedAt: Date;
}

export function emptyV2State(): V2State {
  return {
    pins: new Map(), sessions: new Map(), acceptedHandshakes: [], handledMailboxIds: [], outbox: [], unread: [], refused: [],
    pendingIdentity: null,
  };
}
