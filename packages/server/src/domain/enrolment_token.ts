import { createHash, randomBytes } from 'node:crypto';

/**
 * Enrolment tokens (docs/protocol-v2.md section 6.1): 32 random bytes, base64url, shown to the
 * operator once. The store keeps only their SHA-256 digest, so a copy of the database does not
 * let anyone enrol.
 */
export function newEnrolmentToken(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 of the token's UTF-8 bytes: what `enrolment_tokens.token_digest` holds. */
export function enrolmentTokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
