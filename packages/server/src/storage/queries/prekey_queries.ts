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

/**
 * Hands out (deletes and returns) the device's oldest one-time prekey. SKIP LOCKED lets concurrent
 * fetches, on any replica, claim different keys instead of waiting, so no key goes out twice.
 */
export async function claimOneTimePreKey(sql: Sql, deviceId: string): Promise<{ key_id: number; public_key: Uint8Array } | null> {
  const rows = await sql.query<{ key_id: number; public_key: Uint8Array }>(
    `DELETE FROM one_time_prekeys WHERE id = (
       SELECT id FROM one_time_prekeys WHERE user_id = $1::bigint ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING key_id, public_key`,
    [deviceId]);
  return rows[0] ?? null;
}

export interface CurrentSignedPreKeyRow {
  signed_prekey_id: number | null;
  signed_prekey: Uint8Array | null;
  signed_prekey_signature: Uint8Array | null;
}

export async function findSignedPreKey(sql: Sql, deviceId: string): Promise<CurrentSignedPreKeyRow> {
  const rows = await sql.query<CurrentSignedPreKeyRow>(
    'SELECT signed_prekey_id, signed_prekey, signed_prekey_signature FROM users WHERE id = $1::bigint', [deviceId]);
  return rows[0]!;
}
