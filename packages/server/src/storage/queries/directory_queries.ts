import type { Sql } from '../database.js';
import { targetTokenCte, type Bucket } from './fetch_allowance_queries.js';

/**
 * One function per SQL statement on the directory tables (users, one_time_prekeys) as wire protocol
 * v1 sees them: only rows registered over v1 (wire_protocol 1). No v1 request, unauthenticated,
 * reads or changes a device enrolled over v2, deleted or not.
 */

/** Creates the v1 user unless the name is taken (over v1 or v2); true when created. */
export async function insertUser(sql: Sql, username: string, identityKey: Uint8Array): Promise<boolean> {
  const rows = await sql.query(
    'INSERT INTO users (username, identity_key, wire_protocol) VALUES ($1, $2, 1) ON CONFLICT (username) DO NOTHING RETURNING id',
    [username, identityKey]);
  return rows.length === 1;
}

/** The identity key of a v1 user; null for a name held over v2, free, or disabled by the operator (no key may claim it then). */
export async function findIdentityKey(sql: Sql, username: string): Promise<Uint8Array | null> {
  const rows = await sql.query<{ identity_key: Uint8Array }>(
    'SELECT identity_key FROM users WHERE username = $1 AND wire_protocol = 1 AND disabled_at IS NULL', [username]);
  return rows[0]?.identity_key ?? null;
}

/** Names registered over v1, oldest first; a deleted or disabled device is no longer listed, though its name stays reserved. */
export async function listUsernames(sql: Sql): Promise<string[]> {
  const rows = await sql.query<{ username: string }>(
    'SELECT username FROM users WHERE wire_protocol = 1 AND deleted_at IS NULL AND disabled_at IS NULL ORDER BY id');
  return rows.map((row) => row.username);
}

/**
 * Replaces the v1 user's signed prekey; returns the user's id, or null for an unknown or disabled user. The row
 * lock it takes serializes bundle uploads of one user until the transaction ends.
 */
export async function updateSignedPreKey(
  sql: Sql, username: string, signedPreKey: Uint8Array, signature: Uint8Array,
): Promise<string | null> {
  const rows = await sql.query<{ id: string }>(
    `UPDATE users SET signed_prekey = $2, signed_prekey_signature = $3
     WHERE username = $1 AND wire_protocol = 1 AND deleted_at IS NULL AND disabled_at IS NULL RETURNING id::text AS id`,
    [username, signedPreKey, signature]);
  return rows[0]?.id ?? null;
}

export async function deleteOneTimePreKeys(sql: Sql, userId: string): Promise<void> {
  await sql.query('DELETE FROM one_time_prekeys WHERE user_id = $1::bigint', [userId]);
}

export async function insertOneTimePreKeys(
  sql: Sql, userId: string, preKeys: readonly { id: number; key: Uint8Array }[],
): Promise<void> {
  if (preKeys.length === 0) return;
  await sql.query(
    `INSERT INTO one_time_prekeys (user_id, key_id, public_key)
     SELECT $1::bigint, key_id, public_key FROM unnest($2::integer[], $3::bytea[]) AS k (key_id, public_key)`,
    [userId, preKeys.map((k) => k.id), preKeys.map((k) => k.key)]);
}

export interface BundleRow {
  identity_key: Uint8Array;
  signed_prekey: Uint8Array | null;
  signed_prekey_signature: Uint8Array | null;
  key_id: number | null;
  public_key: Uint8Array | null;
}

/** The statement of claimBundle, built once (a text built at every call is hashed again at every use). */
const CLAIM_BUNDLE = `WITH owner AS (
    SELECT id, identity_key, signed_prekey, signed_prekey_signature FROM users
    WHERE username = $1 AND wire_protocol = 1 AND deleted_at IS NULL AND disabled_at IS NULL
  ), ${targetTokenCte('token', `(SELECT id AS target_id FROM owner
      WHERE signed_prekey IS NOT NULL AND signed_prekey_signature IS NOT NULL) AS bundled`, '$2', '$3')}, claimed AS (
    DELETE FROM one_time_prekeys WHERE id = (
      SELECT o.id FROM one_time_prekeys o WHERE o.user_id = (SELECT target_id FROM token)
      ORDER BY o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED)
    RETURNING key_id, public_key
  )
  SELECT owner.identity_key, owner.signed_prekey, owner.signed_prekey_signature, claimed.key_id, claimed.public_key
  FROM owner LEFT JOIN claimed ON true`;

/**
 * The v1 user's bundle with one one-time prekey claimed (deleted) in the same statement, oldest
 * upload first, when the user's per-target bucket (prekey_handout_allowances, shared with v2) has
 * a token: v1 has no authenticated requester, and every v1 device answers on the same response
 * topic, so the target is what can be limited. SKIP LOCKED lets concurrent fetches claim different
 * keys instead of waiting, so no key is ever handed out twice; key_id is null when none is left or
 * the bucket is empty. Null for an unknown or disabled user. The owner is a scalar subquery, not a join:
 * joined, the generic plan walks every user's keys in id order looking for the owner's (see
 * query_plans.test.ts).
 */
export async function claimBundle(sql: Sql, username: string, bucket: Bucket): Promise<BundleRow | null> {
  const rows = await sql.query<BundleRow>(CLAIM_BUNDLE, [username, bucket.burst, bucket.intervalMs]);
  return rows[0] ?? null;
}

/** One-time prekeys in stock over all users (a metric). */
export async function countOneTimePreKeys(sql: Sql): Promise<number> {
  const rows = await sql.query<{ count: number }>('SELECT count(*)::integer AS count FROM one_time_prekeys');
  return rows[0]?.count ?? 0;
}
