import { constantTimeEqual, encodeBase64url } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import { checkPeerName, type DeviceCore } from './device_core.js';
import { safetyNumberOf } from './fingerprint.js';
import { type IdentityKey, identityKey } from './keys.js';

/**
 * Peers' identity keys as this device trusts them: pinned on first use, or accepted explicitly by
 * the user after comparing safety numbers. A key other than the pinned one is refused loudly.
 */

/** Throws IDENTITY_CHANGED when `key` is not the key pinned for `peer`. */
export function checkPinned(state: DeviceState, peer: string, key: IdentityKey): void {
  const pin = state.v2.pins.get(peer);
  if (pin && !constantTimeEqual(pin.identityKey, key)) {
    throw new DeviceError('IDENTITY_CHANGED',
      `WARNING: ${peer}'s identity key has CHANGED since it was pinned on ${pin.pinnedAt.toISOString()}. ` +
      `This may be an attack. Refused. Compare the safety number with ${peer} in person (safety-number ${peer}), ` +
      `and only then accept the new key (trust ${peer} <the safety number you compared>).`);
  }
}

/** Pins `key` for `peer` unless a key is pinned already (trust on first use). */
export function pinOnFirstUse(state: DeviceState, peer: string, key: IdentityKey, now: Date): void {
  if (!state.v2.pins.has(peer)) state.v2.pins.set(peer, { identityKey: key, pinnedAt: now });
}

/** The identity key the server's directory holds for `peer`. */
export async function directoryKey(core: DeviceCore, peer: string): Promise<IdentityKey> {
  return identityKey((await core.call('directory.lookup', { device: peer })).identity_key);
}

/** Digits only: a safety number may be typed with the blanks it is shown with. */
const digitsOf = (safetyNumber: string) => safetyNumber.replace(/\s+/g, '');

/**
 * Pins the identity key the directory now holds for `peer` as verified, only if `safetyNumber` is
 * the number of that key, which the user compared with the peer out of band: a number of any other
 * key (a directory that answers differently now, a typo) pins nothing. Messages refused because of
 * the old pin are still in the mailbox and are accepted by the next read.
 */
export async function trustDirectoryKey(
  core: DeviceCore, peer: string, safetyNumber: string,
): Promise<{ peer: string; previousIdentityKey: string | null; identityKey: string; safetyNumber: string; verified: true }> {
  const identity = core.requireIdentity();
  const me = core.requireUsername();
  checkPeerName(peer);
  if (!/^\d{60}$/.test(digitsOf(safetyNumber))) throw new DeviceError('INVALID_INPUT', 'a safety number is 60 digits (blanks between them are ignored)');
  const key = await directoryKey(core, peer);
  const number = safetyNumberOf({ name: me, key: identity.publicKey }, { name: peer, key });
  if (digitsOf(safetyNumber) !== number) {
    throw new DeviceError('SECURITY',
      `the safety number given is not the one of the key the directory holds for ${peer}: nothing was pinned. ` +
      `Compare again (safety-number ${peer}); a different number may mean someone is impersonating ${peer}.`);
  }
  const previous = core.state.v2.pins.get(peer)?.identityKey ?? null;
  await core.update((state) => { state.v2.pins.set(peer, { identityKey: key, pinnedAt: core.now(), verifiedAt: core.now() }); });
  return { peer, previousIdentityKey: previous && encodeBase64url(previous), identityKey: encodeBase64url(key), safetyNumber: number, verified: true };
}
