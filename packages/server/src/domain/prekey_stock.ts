import { wireV2 } from '@x3dh-iot/protocol';
import type { Sql } from '../storage/database.js';
import { insertOneTimePreKeys } from '../storage/queries/directory_queries.js';
import { forgetHandOuts, listHandOuts } from '../storage/queries/prekey_handout_queries.js';
import {
  countDeviceOneTimePreKeys, findSignedPreKey, setMaxOneTimePreKeyId, setSignedPreKey, type SignedPreKeyUpload,
} from '../storage/queries/prekey_queries.js';
import { lockDevice, type DeviceRow } from '../storage/queries/v2_device_queries.js';
import type { OneTimePreKey } from './directory.js';
import { accept, refuse, type Result } from './refusal.js';

/**
 * A device's prekeys (docs/protocol-v2.md sections 6.3, 6.4): ids only grow, uploads add one-time
 * prekeys up to a cap, and a signed prekey is kept only if the identity key signed it. Every check
 * runs before the first write, so a refused upload stores nothing.
 */

export interface PreKeyUpload {
  signedPreKey?: SignedPreKeyUpload;
  oneTimePreKeys?: readonly OneTimePreKey[];
}

export interface PreKeyStatus {
  oneTimePreKeys: number;
  signedPreKeyId: number | null;
  signedPreKeyUploadedAt: number | null;
  maxOneTimePreKeyId: number | null;
  /** The highest signed prekey id ever uploaded: a new one must be above it. */
  maxSignedPreKeyId: number | null;
  /** wireV2.signedPreKeyDigest of the signed prekey held, so that the device can check it is its own. */
  signedPreKeyDigest: string | null;
  /** One-time prekeys handed out whose private keys the device has not reported deleted, oldest first. */
  handedOut: { id: number; handedOutAt: number }[];
}

export async function uploadPreKeys(
  sql: Sql, name: string, device: DeviceRow, upload: PreKeyUpload, cap: number,
): Promise<Result<{ oneTimePreKeys: number; signedPreKeyId: number | null }>> {
  const { signedPreKey, oneTimePreKeys = [] } = upload;
  // Over the name and id too, so that nobody can hand the key out under another id or device unseen.
  if (signedPreKey && !wireV2.verifySignedPreKey(device.identity_key, name, signedPreKey.id, signedPreKey.key, signedPreKey.signature)) {
    return refuse('bad_prekey_signature', `the signed prekey signature does not verify under the identity key over (${name}, ${signedPreKey.id}, key)`);
  }
  // Locked, the row shows every upload committed before: no two uploads both pass the checks below.
  const current = await lockDevice(sql, device.id);
  if (signedPreKey && current.max_signed_prekey_id !== null && signedPreKey.id <= current.max_signed_prekey_id) {
    return refuse('prekey_id_reused', `signed prekey id ${signedPreKey.id} is not above ${current.max_signed_prekey_id}, the highest uploaded`);
  }
  const lowest = Math.min(...oneTimePreKeys.map((k) => k.id));
  if (oneTimePreKeys.length > 0 && current.max_one_time_prekey_id !== null && lowest <= current.max_one_time_prekey_id) {
    return refuse('prekey_id_reused', `one-time prekey id ${lowest} is not above ${current.max_one_time_prekey_id}, the highest uploaded`);
  }
  const stock = await countDeviceOneTimePreKeys(sql, device.id);
  if (stock + oneTimePreKeys.length > cap) {
    return refuse('prekey_cap', `${stock} one-time prekeys in stock; ${oneTimePreKeys.length} more would exceed the cap of ${cap}`);
  }
  if (signedPreKey) await setSignedPreKey(sql, device.id, signedPreKey);
  if (oneTimePreKeys.length > 0) {
    await insertOneTimePreKeys(sql, device.id, oneTimePreKeys);
    await setMaxOneTimePreKeyId(sql, device.id, Math.max(...oneTimePreKeys.map((k) => k.id)));
  }
  return accept({
    oneTimePreKeys: stock + oneTimePreKeys.length,
    signedPreKeyId: signedPreKey?.id ?? current.signed_prekey_id,
  });
}

/**
 * The device's prekey stock, after forgetting the hand-outs up to `forgetHandedOutThrough` (the
 * device has deleted their private keys), with the oldest remaining hand-outs, at most `listed`.
 */
export async function preKeyStatus(
  sql: Sql, device: DeviceRow, forgetHandedOutThrough: number | undefined, listed: number,
): Promise<PreKeyStatus> {
  if (forgetHandedOutThrough !== undefined) await forgetHandOuts(sql, device.id, forgetHandedOutThrough);
  const signedPreKey = await findSignedPreKey(sql, device.id);
  return {
    oneTimePreKeys: await countDeviceOneTimePreKeys(sql, device.id),
    signedPreKeyId: device.signed_prekey_id,
    signedPreKeyUploadedAt: device.signed_prekey_uploaded_at,
    maxOneTimePreKeyId: device.max_one_time_prekey_id,
    maxSignedPreKeyId: device.max_signed_prekey_id,
    signedPreKeyDigest: signedPreKey === null ? null : wireV2.signedPreKeyDigest(signedPreKey),
    handedOut: (await listHandOuts(sql, device.id, listed)).map((h) => ({ id: h.key_id, handedOutAt: Math.round(h.handed_out_at) })),
  };
}
