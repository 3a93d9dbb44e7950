import { z } from 'zod';
import { base64Bytes, exactly, keySchema, publishedKeySchema, signatureSchema } from '../wire_common/schema_parts.js';
import { ENROLMENT_PROOF_BYTES, ENROLMENT_TOKEN_ID_BYTES } from './enrolment_proof.js';
import { DEVICE_NAME_PATTERN, type V2Operation } from './topics.js';

/** Byte strings of a given length and published X25519 keys, as the requests check them (for other edges to check alike). */
export { exactly, publishedKeySchema } from '../wire_common/schema_parts.js';

/** Payloads of wire protocol v2 (docs/protocol-v2.md sections 4 to 6), validated at both ends. */

export const MAX_REQUEST_BYTES = 64 * 1024;
export const MAX_ENVELOPE_BYTES = 48 * 1024;
export const MAX_ONE_TIME_PREKEYS_PER_UPLOAD = 100;
export const MAX_MAILBOX_FETCH = 100;
/** Most names one directory.list answer holds; a larger directory is read a page at a time (`after`). */
export const MAX_DIRECTORY_PAGE = 1000;
export const MAX_ACK_IDS = 100;
/** Hand-outs of one-time prekeys listed by one `prekeys.status` answer at most (the oldest first). */
export const MAX_HANDED_OUT_LISTED = 100;
export const MESSAGE_ID_BYTES = 16;
/** Prekey ids are unsigned 31-bit integers; -1 in an envelope means "no one-time prekey". */
export const MAX_PREKEY_ID = 0x7fffffff;

export const deviceNameSchema = z.string({ error: 'must be a string' })
  .regex(DEVICE_NAME_PATTERN, { error: 'must be 1 to 64 of A-Z a-z 0-9 . _ -' });
export const preKeyIdSchema = z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' })
  .min(0).max(MAX_PREKEY_ID);
/** The largest mailbox message id: ids are a signed 64-bit integer (PostgreSQL bigint) on the server. */
export const MAX_MAILBOX_ID = 2n ** 63n - 1n;
/**
 * Mailbox message ids are decimal strings from 1 to MAX_MAILBOX_ID: 19 digits reach beyond it, and
 * such an id must be refused here as bad input rather than fail in the database.
 */
export const mailboxIdSchema = z.string({ error: 'must be a decimal string' })
  .regex(/^[1-9][0-9]{0,18}$/, { error: 'must be a decimal id' })
  .refine((id) => !/^[0-9]+$/.test(id) || BigInt(id) <= MAX_MAILBOX_ID, { error: `must be a decimal id at most ${MAX_MAILBOX_ID}` });
export const clientMessageIdSchema = exactly('message id', MESSAGE_ID_BYTES);
export const envelopeSchema = base64Bytes('envelope', (len) =>
  len === 0 ? 'envelope must not be empty'
    : len > MAX_ENVELOPE_BYTES ? `envelope must be at most ${MAX_ENVELOPE_BYTES} bytes, got ${len}` : null);
export const messageTypeSchema = z.enum(['x3dh.initial', 'session'], { error: 'must be x3dh.initial or session' });
export type MessageType = z.output<typeof messageTypeSchema>;

const signedPreKeySchema = z.strictObject({ id: preKeyIdSchema, key: keySchema, signature: signatureSchema });
const oneTimePreKeySchema = z.strictObject({ id: preKeyIdSchema, key: keySchema });
/** Uploads refuse keys no one could agree a secret with; what the server hands out is checked again by the initiator. */
const uploadedSignedPreKeySchema = signedPreKeySchema.extend({ key: publishedKeySchema });
const uploadedOneTimePreKeySchema = oneTimePreKeySchema.extend({ key: publishedKeySchema });

/** Request bodies by operation. Unknown members are refused, so a typo is an error, not a silent default. */
export const requestBodies = {
  // The token itself never travels: its id and a MAC proving it (enrolment_proof.ts), both or neither.
  'enroll': z.strictObject({
    identity_key: publishedKeySchema,
    token_id: exactly('token_id', ENROLMENT_TOKEN_ID_BYTES).optional(),
    token_proof: exactly('token_proof', ENROLMENT_PROOF_BYTES).optional(),
  }).refine((body) => (body.token_id === undefined) === (body.token_proof === undefined), {
    error: 'token_id and token_proof go together', path: ['token_proof'],
  }),
  'identity.rotate': z.strictObject({ new_identity_key: publishedKeySchema, proof: signatureSchema }),
  'prekeys.upload': z.strictObject({
    signed_prekey: uploadedSignedPreKeySchema.optional(),
    one_time_prekeys: z.array(uploadedOneTimePreKeySchema).max(MAX_ONE_TIME_PREKEYS_PER_UPLOAD)
      .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, { error: 'one-time prekey ids must be unique' })
      .optional(),
  }),
  /** The device has deleted the private keys of the hand-outs up to this one-time prekey id: the server forgets their records. */
  'prekeys.status': z.strictObject({ forget_handed_out_through: preKeyIdSchema.optional() }),
  'bundle.fetch': z.strictObject({ device: deviceNameSchema }),
  'directory.list': z.strictObject({
    after: deviceNameSchema.optional(),
    limit: z.number().int().min(1).max(MAX_DIRECTORY_PAGE).optional(),
  }),
  'directory.lookup': z.strictObject({ device: deviceNameSchema }),
  'message.send': z.strictObject({ to: deviceNameSchema, id: clientMessageIdSchema, type: messageTypeSchema, envelope: envelopeSchema }),
  'mailbox.fetch': z.strictObject({
    after: mailboxIdSchema.optional(),
    limit: z.number().int().min(1).max(MAX_MAILBOX_FETCH).optional(),
  }),
  'mailbox.ack': z.strictObject({ ids: z.array(mailboxIdSchema).min(1).max(MAX_ACK_IDS) }),
  'device.delete': z.strictObject({}),
} satisfies Record<V2Operation, z.ZodType>;
export type RequestBody<O extends V2Operation> = z.output<(typeof requestBodies)[O]>;
/** What a client writes (keys as base64url text) for each operation. */
export type RequestBodyInput<O extends V2Operation> = z.input<(typeof requestBodies)[O]>;

const mailboxMessageSchema = z.object({
  id: mailboxIdSchema,
  from: deviceNameSchema,
  type: messageTypeSchema,
  envelope: envelopeSchema,
  client_id: clientMessageIdSchema,
  queued_at: z.number().int(),
});
export type MailboxMessage = z.output<typeof mailboxMessageSchema>;

const prekeyCountSchema = z.number().int().min(0);

/**
 * The operator's certificate of an identity key (docs/protocol-v2.md section 6.11): the epoch and the
 * signature over (device, identity key, epoch, deployment id). Optional in the schema so that a
 * device can say clearly that an answer came without one; a provisioned device refuses such answers.
 */
export const identityCertificateSchema = z.strictObject({
  epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  signature: signatureSchema,
});
export type IdentityCertificate = z.output<typeof identityCertificateSchema>;

/** Results by operation, inside `{"ok": true, "result": ...}`. */
export const results = {
  'enroll': z.object({ device: deviceNameSchema, identity_key: keySchema }),
  'identity.rotate': z.object({ device: deviceNameSchema, identity_key: keySchema }),
  'prekeys.upload': z.object({ one_time_prekeys: prekeyCountSchema, signed_prekey_id: preKeyIdSchema.nullable() }),
  'prekeys.status': z.object({
    one_time_prekeys: prekeyCountSchema,
    signed_prekey_id: preKeyIdSchema.nullable(),
    signed_prekey_uploaded_at: z.number().int().nullable(),
    max_one_time_prekey_id: preKeyIdSchema.nullable(),
    max_signed_prekey_id: preKeyIdSchema.nullable(),
    /** signedPreKeyDigest of the signed prekey the server holds; absent from servers before it. */
    signed_prekey_digest: z.string().nullable().optional(),
    /** One-time prekeys handed out and not yet forgotten, oldest first, and the mailbox retention (absent from servers before them). */
    handed_out_one_time_prekeys: z.array(z.object({ id: preKeyIdSchema, handed_out_at: z.number().int() }))
      .max(MAX_HANDED_OUT_LISTED).optional(),
    message_retention_ms: z.number().int().min(0).optional(),
  }),
  'bundle.fetch': z.object({
    device: deviceNameSchema,
    identity_key: keySchema,
    signed_prekey: signedPreKeySchema,
    one_time_prekey: oneTimePreKeySchema.optional(),
    certificate: identityCertificateSchema.optional(),
  }),
  'directory.list': z.object({ devices: z.array(deviceNameSchema) }),
  'directory.lookup': z.object({ device: deviceNameSchema, identity_key: keySchema, certificate: identityCertificateSchema.optional() }),
  'message.send': z.object({ message_id: mailboxIdSchema, queued_at: z.number().int() }),
  'mailbox.fetch': z.object({ messages: z.array(mailboxMessageSchema) }),
  'mailbox.ack': z.object({ acknowledged: z.number().int().min(0) }),
  'device.delete': z.object({ deleted: z.literal(true) }),
} satisfies Record<V2Operation, z.ZodType>;
export type RequestResult<O extends V2Operation> = z.output<(typeof results)[O]>;
export type RequestResultJson<O extends V2Operation> = z.input<(typeof results)[O]>;

export const ERROR_CODES = [
  'bad_request', 'payload_too_large', 'unknown_device', 'stale_request', 'bad_signature', 'replayed_request',
  'enrolment_required', 'name_taken', 'not_found', 'bad_prekey_signature', 'prekey_id_reused', 'prekey_cap',
  'rate_limited', 'mailbox_full', 'device_disabled', 'unavailable', 'internal', 'wrong_deployment',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
/** Codes after which the same request (same request id) may be sent again. */
export const RETRYABLE_ERROR_CODES: readonly ErrorCode[] = ['unavailable', 'internal'];

export const errorSchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  retry_after_ms: z.number().int().min(0).optional(),
});
export type ErrorBody = z.output<typeof errorSchema>;

/** Every response: `{"ok": true, "result": ...}` or `{"ok": false, "error": ...}`; the result is checked per operation. */
export const responseSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: errorSchema }),
]);

export const pushSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message'), message: mailboxMessageSchema }),
  z.object({ type: z.literal('prekeys_low'), one_time_prekeys: prekeyCountSchema }),
]);
export type Push = z.output<typeof pushSchema>;

/** MQTT 5 user property names carrying the request time, signature and deployment id. */
export const TIMESTAMP_PROPERTY = 'x3dh-ts';
export const SIGNATURE_PROPERTY = 'x3dh-sig';
export const DEPLOYMENT_PROPERTY = 'x3dh-deployment';
export { parsePayload, type Parsed } from '../wire_common/schema_parts.js';
