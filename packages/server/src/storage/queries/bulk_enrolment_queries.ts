import type { Sql } from '../database.js';

/**
 * One function per SQL statement of the operator's bulk path into the directory (bench/fleet_generate.ts):
 * v2 devices as `enroll` and `prekeys.upload` leave them, many per statement, for fleets of
 * 100,000 devices and more. The caller generates real keys and vouches for their signatures: no
 * check of a device request is made here.
 */

export interface EnrolledDevice {
  name: string;
  identityKey: Uint8Array;
  signedPreKey: { id: number; key: Uint8Array; signature: Uint8Array };
  /** The highest one-time prekey id uploaded (the device's high-water mark). */
  maxOneTimePreKeyId: number | null;
}

/** Inserts the devices (names must be free) with their signed prekeys; their ids by name. */
export async function insertEnrolledDevices(sql: Sql, devices: readonly EnrolledDevice[]): Promise<Map<string, string>> {
  const rows = await sql.query<{ id: string; username: string }>(
    `INSERT INTO users (username, identity_key, signed_prekey, signed_prekey_signature, signed_prekey_id,
       signed_prekey_uploaded_at, max_signed_prekey_id, max_one_time_prekey_id, wire_protocol)
     SELECT name, identity_key, signed_prekey, signature, prekey_id, now(), prekey_id, max_one_time, 2
     FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bytea[], $5::integer[], $6::integer[])
       AS d (name, identity_key, signed_prekey, signature, prekey_id, max_one_time)
     RETURNING id::text AS id, username`,
    [devices.map((d) => d.name), devices.map((d) => d.identityKey), devices.map((d) => d.signedPreKey.key),
      devices.map((d) => d.signedPreKey.signature), devices.map((d) => d.signedPreKey.id), devices.map((d) => d.maxOneTimePreKeyId)]);
  return new Map(rows.map((row) => [row.username, row.id]));
}

/** Inserts one-time prekeys of many devices: row i is key `keyIds[i]`, `keys[i]` of device `deviceIds[i]`. */
export async function insertOneTimePreKeysOfDevices(
  sql: Sql, deviceIds: readonly string[], keyIds: readonly number[], keys: readonly Uint8Array[],
): Promise<void> {
  await sql.query(
    `INSERT INTO one_time_prekeys (user_id, key_id, public_key)
     SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bytea[])`,
    [deviceIds, keyIds, keys]);
}
