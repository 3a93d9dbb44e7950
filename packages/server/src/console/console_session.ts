import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Database } from '../storage/database.js';
import { insertAuditEntry } from '../storage/queries/audit_log_queries.js';
import {
  deleteConsoleSession, findConsoleSession, insertConsoleSession, useConsoleLoginToken,
} from '../storage/queries/console_session_queries.js';
import { consoleLoginTokenDigest } from './console_login_token.js';

/**
 * Console sessions: a login token from `x3dh-server console-token` is exchanged once for a session
 * cookie (HttpOnly, SameSite=Strict, Secure behind HTTPS) whose SHA-256 digest the store keeps,
 * with the session's CSRF token. Nothing else opens a session: no device credential, certificate or
 * enrolment token is looked at.
 */

export const SESSION_COOKIE = 'x3dh_console_session';
/** A session lasts a working day, then the operator asks for a new login token. */
export const SESSION_LIFETIME_SECONDS = 8 * 3600;

export interface ConsoleSession {
  operator: string;
  csrfToken: string;
  digest: Buffer;
}

const digestOf = (secret: string) => createHash('sha256').update(secret, 'utf8').digest();

function cookieValue(request: http.IncomingMessage, name: string): string | null {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return null;
}

export function sessionCookie(secret: string, secure: boolean, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${secret}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

/** Uses a login token and opens a session; null when the token is unknown, used or expired. */
export async function logIn(
  database: Database, token: string, from: string,
): Promise<{ secret: string; session: ConsoleSession } | null> {
  const secret = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(32).toString('base64url');
  const digest = digestOf(secret);
  const operator = await database.transaction(async (sql) => {
    const name = await useConsoleLoginToken(sql, consoleLoginTokenDigest(token));
    if (name === null) return null;
    await insertConsoleSession(sql, { digest, operator: name, csrfToken, lifetimeSeconds: SESSION_LIFETIME_SECONDS });
    await insertAuditEntry(sql, { actor: `console:${name}`, action: 'console.login', target: null, detail: JSON.stringify({ from }) });
    return name;
  });
  return operator === null ? null : { secret, session: { operator, csrfToken, digest } };
}

/** The request's session, or null without a valid, unexpired session cookie. */
export async function sessionOf(database: Database, request: http.IncomingMessage): Promise<ConsoleSession | null> {
  const secret = cookieValue(request, SESSION_COOKIE);
  if (secret === null || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return null;
  const digest = digestOf(secret);
  const row = await database.transaction((sql) => findConsoleSession(sql, digest));
  return row === null ? null : { operator: row.operator, csrfToken: row.csrf_token, digest };
}

export async function logOut(database: Database, session: ConsoleSession): Promise<void> {
  await database.transaction(async (sql) => {
    await deleteConsoleSession(sql, session.digest);
    await insertAuditEntry(sql, { actor: `console:${session.operator}`, action: 'console.logout', target: null, detail: null });
  });
}

/** Whether the request carries the session's CSRF token (compared in constant time). */
export function hasCsrfToken(request: http.IncomingMessage, session: ConsoleSession): boolean {
  const sent = request.headers['x-csrf-token'];
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(session.csrfToken);
  return a.length === b.length && timingSafeEqual(a, b);
}
