import { constantTimeEqual, wireV2 } from '@x3dh-iot/protocol';
import { checkPeerName, type DeviceCore } from './device_core.js';
import { directoryKey } from './identity_key_store.js';
import type { IdentityKey } from './keys.js';

export interface SafetyNumberReport {
  peer: string;
  /** 60 digits from this device's identity key and the peer's pinned key (or the directory's, before pinning). */
  safetyNumber: string;
  pinned: boolean;
  /** The pinned key was confirmed by its safety number (`trust`), not only pinned on first use. */
  verified: boolean;
  /** The directory now holds another key than the pinned one. */
  changed: boolean;
  /** The safety number with the directory's key, when it changed. */
  directorySafetyNumber: string | null;
}

/** The safety number of two named identity keys (the same on both sides). */
export function safetyNumberOf(me: { name: string; key: IdentityKey }, peer: { name: string; key: IdentityKey }): string {
  return wireV2.safetyNumber({ name: me.name, identityKey: me.key }, { name: peer.name, identityKey: peer.key });
}

/** The safety number with a peer, from the pinned key, and whether the directory now says otherwise. */
export async function safetyNumberReport(core: DeviceCore, peer: string): Promise<SafetyNumberReport> {
  const { publicKey } = core.requireIdentity();
  const me = { name: core.requireUsername(), key: publicKey };
  checkPeerName(peer);
  const pin = core.state.v2.pins.get(peer);
  const directory = (await directoryKey(core, peer)).key;
  const changed = pin !== undefined && !constantTimeEqual(pin.identityKey, directory);
  return {
    peer, safetyNumber: safetyNumberOf(me, { name: peer, key: pin?.identityKey ?? directory }), pinned: pin !== undefined,
    verified: pin?.verifiedAt !== undefined, changed,
    directorySafetyNumber: changed ? safetyNumberOf(me, { name: peer, key: directory }) : null,
  };
}
