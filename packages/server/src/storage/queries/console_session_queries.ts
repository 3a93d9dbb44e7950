import type { Sql } from '../database.js';

/** One function per SQL statement on the console's login tokens and sessions. */

export async function insertConsoleLoginToken(
  sql: Sql, token: { digest: Uint8Array; operator: string; expiresInSeconds: number },
): Promise<{ id: string; expires_at: Date }> {
  const rows = await sql.query<{ id: string; expires_at: Date }>(
    `INSERT INTO console_login_tokens (token_digest, operator, expires_at)
     VALUES ($1, $2, now() + make_interval(secs => $3))
     RETURNING id::text AS id, expires_at`,
    [token.digest, token.operator, token.expiresInSeconds]);
  return rows[0]!;
}

/** Uses a login token that is unused and unexpired (by the database's clock); its operator, or null. */
export async function useConsoleLoginToken(sql: Sql, digest: Uint8Array): Promise<string | null> {
  const rows = await sql.query<{ operator: string }>(
    `UPDATE console_login_tokens SET used_at = now()
     WHERE token_digest = $1 AND used_at IS NULL AND expires_at > now()
     RETURNING operator`,
    [digest]);
  return rows[0]?.operator ?? null;
}

export async function insertConsoleSession(
  sql: Sql, session: { digest: Uint8Array; operator: string; csrfToken: string; lifetimeSeconds: number },
): Promise<void> {
  await sql.query(
    `INSERT INTO console_sessions (session_digest, operator, csrf_token, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4))`,
    [session.digest, session.operator, session.csrfToken, session.lifetimeSeconds]);
}

export interface ConsoleSessionRow {
  operator: string;
  csrf_token: string;
  expires_at: Date;
}

/** The session of a cookie's digest while it has not expired. */
export async function findConsoleSession(sql: Sql, digest: Uint8Array): Promise<ConsoleSessionRow | null> {
  const rows = await sql.query<ConsoleSessionRow>(
    'SELECT operator, csrf_token, expires_at FROM console_sessions WHERE session_digest = $1 AND expires_at > now()', [digest]);
  return rows[0] ?? null;
}

export async function deleteConsoleSession(sql: Sql, digest: Uint8Array): Promise<void> {
  await sql.query('DELETE FROM console_sessions WHERE session_digest = $1', [digest]);
}

/** Expired sessions go; expired or used login tokens after a day (the audit log keeps who logged in). */
export async function purgeConsoleSessions(sql: Sql): Promise<void> {
  await sql.query('DELETE FROM console_sessions WHERE expires_at <= now()');
}

export async function purgeConsoleLoginTokens(sql: Sql): Promise<void> {
  await sql.query("DELETE FROM console_login_tokens WHERE expires_at <= now() - interval '1 day'");
}
