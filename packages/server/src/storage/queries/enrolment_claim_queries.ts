import type { Sql } from '../database.js';

/** The SQL statements of a token enrolment: the token is used up by the device it creates (or takes back), or by nothing. */

export interface TokenEnrolment {
  /** The token was valid and is now marked used. */
  tokenUsed: boolean;
  /** The id of the device created; null when none was. */
  deviceId: string | null;
}

/** The digest of the token with this id (docs/protocol-v2.md section 6.1), whatever its state; null when there is none. */
export async function findTokenDigest(sql: Sql, tokenId: Uint8Array): Promise<Uint8Array | null> {
  const rows = await sql.query<{ token_digest: Uint8Array }>('SELECT token_digest FROM enrolment_tokens WHERE token_id = $1', [tokenId]);
  return rows[0]?.token_digest ?? null;
}

/** Marks a valid token ($3, its digest) used by the device name $1 (a WITH item named token, one row when used). */
const USE_TOKEN = `token AS (
       UPDATE enrolment_tokens SET used_at = now(), used_by = $1
       WHERE token_digest = $3 AND used_at IS NULL AND revoked_at IS NULL
         AND (expires_at IS NULL OR expires_at > now()) AND (device IS NULL OR device = $1)
       RETURNING id
     )`;

/**
 * Marks a valid token (not used, not revoked, not expired, bound to no device or to this one) used
 * by `name` and creates the device with it, in one statement. `tokenUsed && deviceId === null`
 * means the name was taken concurrently: the caller must roll back, or the token would be lost.
 */
export async function enrolWithToken(
  sql: Sql, name: string, identityKey: Uint8Array, tokenDigest: Uint8Array,
): Promise<TokenEnrolment> {
  const rows = await sql.query<{ token_used: boolean; device_id: string | null }>(
    `WITH ${USE_TOKEN}, device AS (
       INSERT INTO users (username, identity_key) SELECT $1, $2 FROM token
       ON CONFLICT (username) DO NOTHING RETURNING id
     )
     SELECT EXISTS (SELECT 1 FROM token) AS token_used, (SELECT id::text FROM device) AS device_id`,
    [name, identityKey, tokenDigest]);
  return { tokenUsed: rows[0]!.token_used, deviceId: rows[0]!.device_id };
}

/**
 * Marks a valid token used by `name` and gives the device the operator disabled (or deleted) under
 * that name back, with `identityKey` and without a signed prekey (the old key signed it), in one
 * statement. `tokenUsed && deviceId === null` means the device was enabled or enrolled again
 * concurrently: the caller must roll back, or the token would be lost.
 */
export async function reenrolWithToken(
  sql: Sql, name: string, identityKey: Uint8Array, tokenDigest: Uint8Array,
): Promise<TokenEnrolment> {
  const rows = await sql.query<{ token_used: boolean; device_id: string | null }>(
    `WITH ${USE_TOKEN}, device AS (
       UPDATE users SET identity_key = $2, disabled_at = NULL, deleted_at = NULL, signed_prekey = NULL,
         signed_prekey_signature = NULL, signed_prekey_id = NULL, signed_prekey_uploaded_at = NULL,
         -- Another key is an identity change: a new epoch, whose certificate the enrolment issues.
         identity_epoch = identity_epoch + CASE WHEN identity_key = $2 THEN 0 ELSE 1 END,
         identity_certificate = CASE WHEN identity_key = $2 THEN identity_certificate END,
         certificate_issuer = CASE WHEN identity_key = $2 THEN certificate_issuer END,
         -- The operator's token hands the name to a v2 device, also a name first registered over v1.
         wire_protocol = 2
       WHERE username = $1 AND disabled_at IS NOT NULL AND EXISTS (SELECT 1 FROM token)
       RETURNING id
     )
     SELECT EXISTS (SELECT 1 FROM token) AS token_used, (SELECT id::text FROM device) AS device_id`,
    [name, identityKey, tokenDigest]);
  return { tokenUsed: rows[0]!.token_used, deviceId: rows[0]!.device_id };
}
