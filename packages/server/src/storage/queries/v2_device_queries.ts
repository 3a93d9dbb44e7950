import type { Sql } from '../database.js';

/** One function per SQL statement on the users table as wire protocol v2 sees it (devices). */

export interface DeviceRow {
  id: string;
  identity_key: Uint8Array;
  deleted: boolean;
  /** Registered over wire protocol v1: not a v2 device, whatever its key (its name is taken, though). */
  v1: boolean;
  /** Disabled (or deleted) by the operator: refused everything until enrolled again with a new token. */
  disabled: boolean;
  signed_prekey_id: number | null;
  signed_prekey_uploaded_at: number | null;
  max_signed_prekey_id: number | null;
  max_one_time_prekey_id: number | null;
  /** 1 at enrolment, one more at every identity change (docs/protocol-v2.md section 6.11). */
  identity_epoch: number;
  /** The operator's certificate of (name, identity_key, identity_epoch), and who issued it; null until issued. */
  identity_certificate: Uint8Array | null;
  certificate_issuer: string | null;
}

const DEVICE_COLUMNS = `id::text AS id, identity_key, deleted_at IS NOT NULL AS deleted, wire_protocol = 1 AS v1,
  disabled_at IS NOT NULL AS disabled, signed_prekey_id,
  (extract(epoch FROM signed_prekey_uploaded_at) * 1000)::float8 AS signed_prekey_uploaded_at,
  max_signed_prekey_id, max_one_time_prekey_id, identity_epoch::float8 AS identity_epoch, identity_certificate, certificate_issuer`;

/** The device by name, deleted or not, v1 or v2; null when the name was never registered. */
export async function findDevice(sql: Sql, name: string): Promise<DeviceRow | null> {
  const rows = await sql.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM users WHERE username = $1`, [name]);
  return rows[0] ?? null;
}

/**
 * The device's row, locked until the transaction ends (and read after any concurrent change to it
 * committed): serializes the read-check-write steps of prekey uploads and mailbox inserts per
 * device across replicas. NO KEY UPDATE still lets other transactions insert rows referencing it.
 */
export async function lockDevice(sql: Sql, id: string): Promise<DeviceRow> {
  const rows = await sql.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM users WHERE id = $1::bigint FOR NO KEY UPDATE`, [id]);
  return rows[0]!;
}

/** Creates the device unless the name is taken; its id, or null when the name is taken. */
export async function insertDevice(sql: Sql, name: string, identityKey: Uint8Array): Promise<string | null> {
  const rows = await sql.query<{ id: string }>(
    'INSERT INTO users (username, identity_key) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING RETURNING id::text AS id',
    [name, identityKey]);
  return rows[0]?.id ?? null;
}

/** Undoes a soft delete (an enrolment with the same key). */
export async function restoreDevice(sql: Sql, id: string): Promise<void> {
  await sql.query('UPDATE users SET deleted_at = NULL WHERE id = $1::bigint', [id]);
}

/**
 * Replaces the identity key and forgets the signed prekey, which the old key signed; the highest
 * prekey ids stay, so no id is reused after a rotation. The identity's epoch goes up by one and its
 * certificate, of the old key, goes.
 */
export async function setIdentityKey(sql: Sql, id: string, identityKey: Uint8Array): Promise<void> {
  await sql.query(
    `UPDATE users SET identity_key = $2, signed_prekey = NULL, signed_prekey_signature = NULL,
       signed_prekey_id = NULL, signed_prekey_uploaded_at = NULL,
       identity_epoch = identity_epoch + 1, identity_certificate = NULL, certificate_issuer = NULL
     WHERE id = $1::bigint`,
    [id, identityKey]);
}

/** Stores the certificate of the identity key at `epoch`, unless the key or epoch changed meanwhile. */
export async function storeIdentityCertificate(
  sql: Sql, id: string, identityKey: Uint8Array, epoch: number, certificate: Uint8Array, issuer: string,
): Promise<void> {
  await sql.query(
    `UPDATE users SET identity_certificate = $4, certificate_issuer = $5
     WHERE id = $1::bigint AND identity_key = $2 AND identity_epoch = $3::bigint`,
    [id, identityKey, epoch, certificate, issuer]);
}

/** Soft delete: the row (name and identity key) stays, so nobody else can take the name. */
export async function markDeviceDeleted(sql: Sql, id: string): Promise<void> {
  await sql.query(
    `UPDATE users SET deleted_at = now(), signed_prekey = NULL, signed_prekey_signature = NULL,
       signed_prekey_id = NULL, signed_prekey_uploaded_at = NULL
     WHERE id = $1::bigint`,
    [id]);
}

/** Sets or clears the operator's block on a device by name; false when there is no such device. */
export async function setDeviceDisabled(sql: Sql, name: string, disabled: boolean): Promise<boolean> {
  const rows = await sql.query(
    `UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END WHERE username = $1 RETURNING 1`,
    [name, disabled]);
  return rows.length === 1;
}

/**
 * A page of the names of the devices enrolled over v2, not deleted or disabled (v1 devices are
 * another namespace), in name order after `after` (keyset pagination: a page reads its rows from
 * the users_v2_directory index and stops, whatever the fleet's size, and a device enrolled between
 * two pages is listed once, in its place, or not at all when it falls before the cursor). The first
 * page is the one after '', which sorts before every name: one statement and one plan for all pages.
 */
export async function listDeviceNames(sql: Sql, after: string | null, limit: number): Promise<string[]> {
  const rows = await sql.query<{ username: string }>(
    `SELECT username FROM users
     WHERE deleted_at IS NULL AND disabled_at IS NULL AND wire_protocol = 2 AND username > $1::text
     ORDER BY username LIMIT $2`,
    [after ?? '', limit]);
  return rows.map((row) => row.username);
}
