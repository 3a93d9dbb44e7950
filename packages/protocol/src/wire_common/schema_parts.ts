import { z } from 'zod';
import { decodeBase64url } from '../base64url.js';
import { utf8 } from '../bytes.js';
import { EncodingError } from '../errors.js';
import { AEAD_NONCE_BYTES, SIGNATURE_BYTES, X25519_KEY_BYTES } from '../sizes.js';
import { publishedKeyProblem } from '../x25519.js';

/** Schema parts both wire protocols use: strict base64url byte strings of checked lengths, and parsing with readable errors. */

export function base64Bytes(what: string, check: (length: number) => string | null) {
  return z.string({ error: 'must be a base64url string' }).transform((text, ctx) => {
    try {
      const bytes = decodeBase64url(text, what);
      const problem = check(bytes.length);
      if (problem === null) return bytes;
      ctx.issues.push({ code: 'custom', message: problem, input: text });
    } catch (error) {
      ctx.issues.push({ code: 'custom', message: (error as EncodingError).message, input: text });
    }
    return z.NEVER;
  });
}

export const exactly = (what: string, n: number) =>
  base64Bytes(what, (len) => (len === n ? null : `${what} must be ${n} bytes, got ${len}`));

export const keySchema = exactly('key', X25519_KEY_BYTES);
/** An X25519 public key someone publishes for others to agree keys with: canonical and not of small order. */
export const publishedKeySchema = keySchema.superRefine((key, ctx) => {
  const problem = publishedKeyProblem(key);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});
export const signatureSchema = exactly('signature', SIGNATURE_BYTES);
export const nonceSchema = exactly('nonce', AEAD_NONCE_BYTES);

export type Parsed<S extends z.ZodType> = { ok: true; value: z.output<S> } | { ok: false; error: string };

/**
 * Parses a JSON payload (bytes or text) against a schema. Failures come back as one readable line
 * naming the field, never as an exception.
 */
export function parsePayload<S extends z.ZodType>(schema: S, payload: Uint8Array | string): Parsed<S> {
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : utf8.decode(payload));
  } catch {
    return { ok: false, error: 'payload is not valid UTF-8 JSON' };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join('.') : 'payload';
  return { ok: false, error: `${field}: ${issue.message}` };
}
