import type { Sql } from '../storage/database.js';
import { fetchTokenWaitMs, takeFetchToken, type Bucket } from '../storage/queries/fetch_allowance_queries.js';
import { claimOneTimePreKey, countDeviceOneTimePreKeys, findSignedPreKey } from '../storage/queries/prekey_queries.js';
import { findDevice } from '../storage/queries/v2_device_queries.js';
import type { OneTimePreKey } from './directory.js';
import { accept, refuse, type Result } from './refusal.js';

/** A v2 bundle: the signed prekey carries its id, the one-time prekey is absent when the stock is empty. */
export interface IdentifiedBundle {
  identityKey: Uint8Array;
  signedPreKey: { id: number; key: Uint8Array; signature: Uint8Array };
  oneTimePreKey?: OneTimePreKey;
  /** One-time prekeys the target has left after this hand-out. */
  stockLeft: number;
}

/**
 * Hands out the target's bundle with its oldest one-time prekey, deleted in the same transaction
 * (docs/protocol-v2.md section 6.5). A token bucket per (requester, target) bounds how fast anyone
 * can drain a device's one-time prekeys; a target without a bundle costs no token.
 */
export async function handOutBundle(
  sql: Sql, requesterId: string, target: string, bucket: Bucket,
): Promise<Result<IdentifiedBundle>> {
  const device = await findDevice(sql, target);
  if (device === null || device.deleted) return refuse('unknown_device', `${target} is not enrolled`);
  const signed = await findSignedPreKey(sql, device.id);
  // A bundle registered over v1 has no signed prekey id, which v2 envelopes name: not a v2 bundle.
  if (signed.signed_prekey_id === null || signed.signed_prekey === null || signed.signed_prekey_signature === null) {
    return refuse('not_found', `${target} has no bundle`);
  }
  if (!await takeFetchToken(sql, requesterId, device.id, bucket)) {
    const wait = await fetchTokenWaitMs(sql, requesterId, device.id, bucket);
    return refuse('rate_limited', `too many bundle fetches for ${target}; retry in ${Math.ceil(wait / 1000)} s`, wait);
  }
  const claimed = await claimOneTimePreKey(sql, device.id);
  return accept({
    identityKey: device.identity_key,
    signedPreKey: { id: signed.signed_prekey_id, key: signed.signed_prekey, signature: signed.signed_prekey_signature },
    ...(claimed ? { oneTimePreKey: { id: claimed.key_id, key: claimed.public_key } } : {}),
    stockLeft: await countDeviceOneTimePreKeys(sql, device.id),
  });
}
