import { constantTimeEqual, wireV2 } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { IdentityKey } from './keys.js';
import type { DeviceProvisioning } from './provisioning.js';

/** A peer's identity key as the directory vouched for it: with the certificate's epoch, or null when trusted on first use. */
export interface VouchedKey {
  key: IdentityKey;
  epoch: number | null;
}

/**
 * Checks the certificate of a bundle or directory answer for `peer` (docs/protocol-v2.md section
 * 6.11, device checks 1): present, and the operator's signature over exactly this name, key, epoch
 * and this device's deployment. Without an operator key, only a device set to trust on first use
 * takes the key as it comes (epoch null).
 */
export function vouchedKey(
  provisioning: DeviceProvisioning | undefined, peer: string, key: IdentityKey, certificate: wireV2.IdentityCertificate | undefined,
): VouchedKey {
  if (provisioning === undefined || provisioning.operatorKey === null) {
    if (provisioning?.trustOnFirstUse) return { key, epoch: null };
    throw new DeviceError('NOT_READY',
      `no operator key provisioned: ${peer}'s identity key cannot be verified and is not used. Provision this device with ` +
      'the operator public key and deployment id (--operator-key, --deployment-id), or accept unverified keys explicitly (--trust-on-first-use)');
  }
  if (certificate === undefined) throw new DeviceError('SECURITY', `the server's answer for ${peer} carries no identity certificate: refused`);
  const identity = { device: peer, identityKey: key, epoch: certificate.epoch, deploymentId: provisioning.deploymentId };
  if (!wireV2.verifyIdentityCertificate(provisioning.operatorKey, identity, certificate.signature)) {
    throw new DeviceError('SECURITY',
      `the identity certificate for ${peer} does not verify under the operator key for this name, key and deployment: refused`);
  }
  return { key, epoch: certificate.epoch };
}

/**
 * Applies the epoch rule of a certified key to the pins of `state` (device checks 2 to 4), pinning
 * it when the peer is new: an epoch below the pinned one is refused, as is another key at the
 * pinned epoch; a higher epoch is a rotation the operator approved, pinned at once. Returns whether
 * the pin moved to another key. A key trusted on first use (epoch null) must be the pinned one.
 */
export function admitIdentity(state: DeviceState, peer: string, vouched: VouchedKey, now: Date): { rotated: boolean } {
  const pin = state.v2.pins.get(peer);
  if (pin === undefined) {
    state.v2.pins.set(peer, { identityKey: vouched.key, pinnedAt: now, ...(vouched.epoch === null ? {} : { epoch: vouched.epoch }) });
    return { rotated: false };
  }
  const same = constantTimeEqual(pin.identityKey, vouched.key);
  if (vouched.epoch === null) {
    if (!same) throw identityChanged(peer, pin.pinnedAt);
    return { rotated: false };
  }
  const pinned = pin.epoch ?? 0;
  if (vouched.epoch < pinned) {
    throw new DeviceError('SECURITY', `the server answered ${peer}'s identity at epoch ${vouched.epoch}, older than the pinned epoch ${pinned}: refused (a replayed or rolled-back certificate)`);
  }
  if (vouched.epoch === pinned) {
    if (!same) throw new DeviceError('SECURITY', `two identity keys of ${peer} are certified for epoch ${pinned}: refused (the operator key may be misused)`);
    return { rotated: false };
  }
  if (same) {
    pin.epoch = vouched.epoch;
    return { rotated: false };
  }
  state.v2.pins.set(peer, { identityKey: vouched.key, pinnedAt: now, epoch: vouched.epoch, certifiedRotationAt: now });
  return { rotated: true };
}

export function identityChanged(peer: string, pinnedAt: Date): DeviceError {
  return new DeviceError('IDENTITY_CHANGED',
    `WARNING: ${peer}'s identity key has CHANGED since it was pinned on ${pinnedAt.toISOString()}. ` +
    `This may be an attack. Refused. Compare the safety number with ${peer} in person (safety-number ${peer}), ` +
    `and only then accept the new key (trust ${peer} <the safety number you compared>).`);
}
