import { createHash, randomBytes } from 'node:crypto';

/**
 * Console login tokens: 32 random bytes, base64url, after a prefix that tells them apart from
 * enrolment tokens. The store keeps only their SHA-256 digest; one logs in once, before it expires.
 */
const PREFIX = 'x3dh-console-';

export function newConsoleLoginToken(): string {
  return `${PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** SHA-256 of the token's UTF-8 bytes: what `console_login_tokens.token_digest` holds. */
export function consoleLoginTokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Default and longest lifetime of a login token: long enough to open a browser, short if it leaks. */
export const LOGIN_TOKEN_LIFETIME = { defaultSeconds: 15 * 60, maxSeconds: 24 * 3600 } as const;
