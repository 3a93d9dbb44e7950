import { constantTimeEqual, encodeBase64url } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import { checkPeerName, type DeviceCore } from './device_core.js';
import { safetyNumberOf } from './fingerprint.js';
import { admitIdentity, identityChanged, vouchedKey, type VouchedKey } from './identity_certificates.js';
import { type IdentityKey, identityKey } from './keys.js';

/**
 * Peers' identity keys as this device trusts them: certified by the operator's key with the
 * highest epoch seen (identity_certificates.ts), pinned on first use when the device was set to
 * trust so, or accepted explicitly by the user after comparing safety numbers. A key other than
 * the pinned one is refused loudly unless a newer certificate vouches for it.
 */

/** Throws IDENTITY_CHANGED when `key` is not the key pinned for `peer`. */
export function checkPinned(state: DeviceState, peer: string, key: IdentityKey): void {
  const pin = state.v2.pins.get(peer);
  if (pin && !constantTimeEqual(pin.identityKey, key)) throw identityChanged(peer, pin.pinnedAt);
}

/** The identity key the server's directory holds for `peer`, with its certificate checked. */
export async function directoryKey(core: DeviceCore, peer: string): Promise<VouchedKey> {
  const answer = await core.call('directory.lookup', { device: peer });
  if (answer.device !== peer) throw new DeviceError('SECURITY', `the directory answered for ${answer.device} when asked for ${peer}: refused`);
  return vouchedKey(core.provisioning, peer, identityKey(answer.identity_key), answer.certificate);
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
  const vouched = await directoryKey(core, peer);
  const key = vouched.key;
  const number = safetyNumberOf({ name: me, key: identity.publicKey }, { name: peer, key });
  if (digitsOf(safetyNumber) !== number) {
    throw new DeviceError('SECURITY',
      `the safety number given is not the one of the key the directory holds for ${peer}: nothing was pinned. ` +
      `Compare again (safety-number ${peer}); a different number may mean someone is impersonating ${peer}.`);
  }
  const previous = core.state.v2.pins.get(peer)?.identityKey ?? null;
  await core.update((state) => {
    // The epoch rule holds for a verified key too: no certificate older than the pinned one.
    if (vouched.epoch !== null) admitIdentity(state, peer, vouched, core.now());
    state.v2.pins.set(peer, { identityKey: key, pinnedAt: core.now(), verifiedAt: core.now(), ...(vouched.epoch === null ? {} : { epoch: vouched.epoch }) });
  });
  return { peer, previousIdentityKey: previous && encodeBase64url(previous), identityKey: encodeBase64url(key), safetyNumber: number, verified: true };
}
