import type { Sql } from '../database.js';

/** The one SQL statement of a token enrolment: the token is used up by the device it creates, or by nothing. */

export interface TokenEnrolment {
  /** The token was valid and is now marked used. */
  tokenUsed: boolean;
  /** The id of the device created; null when none was. */
  deviceId: string | null;
}

/**
 * Marks a valid token (not used, not revoked, not expired, bound to no device or to this one) used
 * by `name` and creates the device with it, in one statement. `tokenUsed && deviceId === null`
 * means the name was taken concurrently: the caller must roll back, or the token would be lost.
 */
export async function enrolWithToken(
  sql: Sql, name: string, identityKey: Uint8Array, tokenDigest: Uint8Array,
): Promise<TokenEnrolment> {
  const rows = await sql.query<{ token_used: boolean; device_id: string | null }>(
    `WITH token AS (
       UPDATE enrolment_tokens SET used_at = now(), used_by = $1
       WHERE token_digest = $3 AND used_at IS NULL AND revoked_at IS NULL
         AND (expires_at IS NULL OR expires_at > now()) AND (device IS NULL OR device = $1)
       RETURNING id
     ), device AS (
       INSERT INTO users (username, identity_key) SELECT $1, $2 FROM token
       ON CONFLICT (username) DO NOTHING RETURNING id
     )
     SELECT EXISTS (SELECT 1 FROM token) AS token_used, (SELECT id::text FROM device) AS device_id`,
    [name, identityKey, tokenDigest]);
  return { tokenUsed: rows[0]!.token_used, deviceId: rows[0]!.device_id };
}
