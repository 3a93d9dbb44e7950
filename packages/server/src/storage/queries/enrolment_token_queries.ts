import type { Sql } from '../database.js';

/** One function per SQL statement on enrolment_tokens (operator commands). */

export type EnrolmentTokenState = 'issued' | 'used' | 'revoked' | 'expired';

export interface EnrolmentTokenRow {
  id: string;
  device: string | null;
  note: string | null;
  created_at: Date;
  expires_at: Date | null;
  used_at: Date | null;
  used_by: string | null;
  revoked_at: Date | null;
  state: EnrolmentTokenState;
}

/** The state by the database's clock, so that every replica and command agrees on expiry. */
const STATE = `CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN used_at IS NOT NULL THEN 'used'
  WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired' ELSE 'issued' END AS state`;
const COLUMNS = `id::text AS id, device, note, created_at, expires_at, used_at, used_by, revoked_at, ${STATE}`;

export interface NewEnrolmentToken {
  digest: Uint8Array;
  device: string | null;
  note: string | null;
  /** Null for a token that does not expire. */
  expiresInSeconds: number | null;
}

export async function insertEnrolmentToken(sql: Sql, token: NewEnrolmentToken): Promise<EnrolmentTokenRow> {
  const rows = await sql.query<EnrolmentTokenRow>(
    `INSERT INTO enrolment_tokens (token_digest, device, note, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4))
     RETURNING ${COLUMNS}`,
    [token.digest, token.device, token.note, token.expiresInSeconds]);
  return rows[0]!;
}

/** Every token, oldest first; never the digest. */
export async function listEnrolmentTokens(sql: Sql): Promise<EnrolmentTokenRow[]> {
  return sql.query<EnrolmentTokenRow>(`SELECT ${COLUMNS} FROM enrolment_tokens ORDER BY id`);
}

export async function findEnrolmentToken(sql: Sql, id: string): Promise<EnrolmentTokenRow | null> {
  const rows = await sql.query<EnrolmentTokenRow>(`SELECT ${COLUMNS} FROM enrolment_tokens WHERE id = $1::bigint`, [id]);
  return rows[0] ?? null;
}

/** Revokes a token that is neither used nor revoked yet; null when there is no such token. */
export async function revokeEnrolmentToken(sql: Sql, id: string): Promise<EnrolmentTokenRow | null> {
  const rows = await sql.query<EnrolmentTokenRow>(
    `UPDATE enrolment_tokens SET revoked_at = now()
     WHERE id = $1::bigint AND revoked_at IS NULL AND used_at IS NULL
     RETURNING ${COLUMNS}`,
    [id]);
  return rows[0] ?? null;
}
