import type { KeyPair } from '@x3dh-iot/protocol';
import { emptyV2State, type V2State } from './v2/v2_state.js';

/**
 * Everything a device keeps between runs. Signed and one-time prekeys carry ids that only ever grow,
 * so an id names one key for the device's whole life; older signed prekeys are kept for a while so
 * initial messages sent to them before a republish still open.
 */
export interface DeviceState {
  username: string | null;
  identity: KeyPair | null;
  /** Oldest first; the last one is the one currently published. */
  signedPreKeys: SignedPreKey[];
  /** Private keys of one-time prekeys published and not yet used, by id. */
  oneTimePreKeys: Map<number, KeyPair>;
  nextSignedPreKeyId: number;
  nextOneTimePreKeyId: number;
  /** By peer username. */
  sessions: Map<string, Session>;
  /** What only wire protocol v2 uses: pins, v2 sessions, replay and duplicate memory, outbox, unread texts. */
  v2: V2State;
}

export interface SignedPreKey {
  id: number;
  keyPair: KeyPair;
  signature: Uint8Array;
  createdAt: Date;
}

export interface Session {
  peer: string;
  /** The X3DH shared key; v1 uses it directly for every chat message in both directions. */
  sharedKey: Uint8Array;
  /** The peer's identity key seen in the handshake, kept so a later handshake can be compared. */
  peerIdentityKey: Uint8Array;
  role: 'initiator' | 'responder';
  establishedAt: Date;
}

export function emptyDeviceState(): DeviceState {
  return {
    username: null,
    identity: null,
    signedPreKeys: [],
    oneTimePreKeys: new Map(),
    nextSignedPreKeyId: 1,
    nextOneTimePreKeyId: 0,
    sessions: new Map(),
    v2: emptyV2State(),
  };
}
