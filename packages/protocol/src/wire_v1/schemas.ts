import { z } from 'zod';
import { AEAD_TAG_BYTES, X25519_KEY_BYTES } from '../sizes.js';
import {
  base64Bytes, exactly, keySchema, nonceSchema, parsePayload, publishedKeySchema, signatureSchema,
} from '../wire_common/schema_parts.js';

export { keySchema, nonceSchema, signatureSchema, type Parsed as V1Parsed } from '../wire_common/schema_parts.js';

/** Longest username accepted, in characters. The firmware's own buffers are smaller. */
export const MAX_USERNAME_LENGTH = 64;
/** Largest ciphertext accepted in one message (plaintext + tag). */
export const MAX_CIPHERTEXT_BYTES = 16 * 1024;
/** Most one-time prekeys in one v1 bundle upload (the firmware sends 5). */
export const MAX_V1_ONE_TIME_PREKEYS = 100;

/**
 * Usernames become MQTT topic levels, so the topic characters `/ + #` are refused, as are control
 * characters and the empty name; every other name the firmware can send is accepted, blanks at
 * either end included (the original server registered them, so such devices exist).
 */
export const usernameSchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(MAX_USERNAME_LENGTH, { error: `must be at most ${MAX_USERNAME_LENGTH} characters` })
  .refine((name) => !/[/+#]/.test(name), { error: 'must not contain / + or # (MQTT topic separators and wildcards)' })
  // eslint-disable-next-line no-control-regex
  .refine((name) => !/[\u0000-\u001f\u007f]/.test(name), { error: 'must not contain control characters' });

export const adSchema = exactly('associated data', 2 * X25519_KEY_BYTES);
export const ciphertextSchema = base64Bytes('ciphertext', (len) =>
  len < AEAD_TAG_BYTES ? `ciphertext must be at least ${AEAD_TAG_BYTES} bytes, got ${len}`
    : len > MAX_CIPHERTEXT_BYTES ? `ciphertext must be at most ${MAX_CIPHERTEXT_BYTES} bytes, got ${len}` : null);

/** -1 means "no one-time prekey". */
export const opkIdSchema = z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' })
  .min(-1).max(0x7fffffff);
const preKeyIdSchema = z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' })
  .min(0).max(0x7fffffff);

// Uploaded keys are what others will agree keys with: a small-order key would make those agreements
// all zeros, a non-canonical one a second encoding of a key.
export const registerIdentityRequest = z.object({ username: usernameSchema, ik_b64: publishedKeySchema });
export const registerIdentityResponse = z.object({ status: z.literal('created'), username: usernameSchema });

export const registerBundleRequest = z.object({
  username: usernameSchema,
  spk_b64: publishedKeySchema,
  spk_sig_b64: signatureSchema,
  opks_b64: z.array(z.object({ id: preKeyIdSchema, key: publishedKeySchema }))
    .max(MAX_V1_ONE_TIME_PREKEYS)
    .refine((opks) => new Set(opks.map((o) => o.id)).size === opks.length, { error: 'one-time prekey ids must be unique' }),
});
export const statusResponse = z.object({ status: z.string() });

export const bundleResponse = z.object({
  ik_b64: keySchema,
  spk_b64: keySchema,
  spk_sig_b64: signatureSchema,
  opk_id: opkIdSchema,
  opk_b64: keySchema.optional(),
});

export const initialMessageRequest = z.object({
  to: usernameSchema,
  from: usernameSchema,
  ik_b64: keySchema,
  ek_b64: keySchema,
  opk_id: opkIdSchema,
  ciphertext_b64: ciphertextSchema,
  ad_b64: adSchema,
  nonce_b64: nonceSchema,
});

export const inboxResponse = z.object({
  from_user: usernameSchema,
  ik_b64: keySchema,
  ek_b64: keySchema,
  opk_id: opkIdSchema,
  ciphertext_b64: ciphertextSchema,
  ad_b64: adSchema,
  nonce_b64: nonceSchema,
});

export const chatSendRequest = z.object({
  from: usernameSchema,
  to: usernameSchema,
  ciphertext_b64: ciphertextSchema,
  nonce_b64: nonceSchema,
});
export const chatFetchRequest = z.object({ to: usernameSchema, from: usernameSchema });
export const chatFetchResponse = z.array(z.object({ ciphertext_b64: ciphertextSchema, nonce_b64: nonceSchema }));
export const usersResponse = z.object({ users: z.array(z.string()) });
export const errorResponse = z.object({ error: z.string(), code: z.number().optional() });


/** Parses a v1 payload against a schema (see parsePayload). */
export const parseV1 = parsePayload;
