import type { Sql } from '../database.js';

/** One function per SQL statement on prekeys as wire protocol v2 manages them (ids, high-water marks). */

export interface SignedPreKeyUpload {
  id: number;
  key: Uint8Array;
  signature: Uint8Array;
}

/** Makes this the device's current signed prekey and raises its highest signed prekey id. */
export async function setSignedPreKey(sql: Sql, deviceId: string, preKey: SignedPreKeyUpload): Promise<void> {
  await sql.query(
    `UPDATE users SET signed_prekey = $2, signed_prekey_signature = $3, signed_prekey_id = $4,
       signed_prekey_uploaded_at = now(), max_signed_prekey_id = $4
     WHERE id = $1::bigint`,
    [deviceId, preKey.key, preKey.signature, preKey.id]);
}

/** Records the highest one-time prekey id ever uploaded by the device. */
export async function setMaxOneTimePreKeyId(sql: Sql, deviceId: string, maxId: number): Promise<void> {
  await sql.query('UPDATE users SET max_one_time_prekey_id = $2 WHERE id = $1::bigint', [deviceId, maxId]);
}

/** The device's one-time prekeys in stock. */
export async function countDeviceOneTimePreKeys(sql: Sql, deviceId: string): Promise<number> {
  const rows = await sql.query<{ count: number }>(
    'SELECT count(*)::integer AS count FROM one_time_prekeys WHERE user_id = $1::bigint', [deviceId]);
  return rows[0]!.count;
}

/** The device's current signed prekey as stored; null while it has none. */
export async function findSignedPreKey(sql: Sql, deviceId: string): Promise<SignedPreKeyUpload | null> {
  const rows = await sql.query<{ id: number; key: Uint8Array; signature: Uint8Array }>(
    `SELECT signed_prekey_id AS id, signed_prekey AS key, signed_prekey_signature AS signature FROM users
     WHERE id = $1::bigint AND signed_prekey_id IS NOT NULL AND signed_prekey IS NOT NULL AND signed_prekey_signature IS NOT NULL`,
    [deviceId]);
  return rows[0] ?? null;
}
