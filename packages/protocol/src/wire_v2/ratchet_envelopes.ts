import { z } from 'zod';
import { encodeBase64url } from '../base64url.js';
import { utf8 } from '../bytes.js';
import { MAX_COUNTER } from '../ratchet/message_header.js';
import type { RatchetMessage } from '../ratchet/ratchet_cipher.js';
import type { RatchetPublicKey } from '../ratchet/ratchet_keys.js';
import { keySchema, parsePayload, type Parsed } from '../wire_common/schema_parts.js';
import { initialHandshakeJson } from './envelopes.js';
import {
  envelopeCiphertextSchema, type InitialEnvelope, initialEnvelopeSchema, initialHandshakeFields, sessionEnvelopeSchema,
} from './envelopes.js';

/**
 * Envelopes of Double Ratchet sessions (docs/protocol-v2.md section 7): the `x3dh.initial`
 * envelope carries the initiator's first ratchet message, later messages travel as
 * `{"v":2,"dh","pn","n","ciphertext"}`. The nonce is derived from the message key, never sent.
 * The decoders still accept the forms of sessions of envelope version 1, so those keep working.
 */

export interface RatchetInitialEnvelope {
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  signedPreKeyId: number;
  /** null when the bundle had no one-time prekey (-1 on the wire). */
  oneTimePreKeyId: number | null;
  /** The initiator's message 0, sealed with AD_first. */
  message: RatchetMessage;
}

const counter = z.number().int().min(0).max(MAX_COUNTER);
const ratchetFields = { dh: keySchema, pn: counter, n: counter, ciphertext: envelopeCiphertextSchema };
const ratchetInitialSchema = z.strictObject({ ...initialHandshakeFields, ...ratchetFields });
const ratchetSessionSchema = z.strictObject({ v: z.literal(2), ...ratchetFields });
const anyInitialSchema = z.union([ratchetInitialSchema, initialEnvelopeSchema]);
const anySessionSchema = z.discriminatedUnion('v', [ratchetSessionSchema, sessionEnvelopeSchema]);

const messageFrom = (v: { dh: Uint8Array; pn: number; n: number; ciphertext: Uint8Array }): RatchetMessage => ({
  header: { dh: v.dh as RatchetPublicKey, pn: v.pn, n: v.n },
  ciphertext: v.ciphertext,
});

const ratchetJson = (message: RatchetMessage) => ({
  dh: encodeBase64url(message.header.dh),
  pn: message.header.pn,
  n: message.header.n,
  ciphertext: encodeBase64url(message.ciphertext),
});

/** `{"ik","ek","spk_id","opk_id","dh","pn","n","ciphertext"}`, keys in that order. */
export function encodeRatchetInitialEnvelope(envelope: RatchetInitialEnvelope): Uint8Array {
  return utf8.encode(JSON.stringify({
    ...initialHandshakeJson(envelope),
    ...ratchetJson(envelope.message),
  }));
}

export type AnyInitialEnvelope =
  | { form: 'ratchet'; envelope: RatchetInitialEnvelope }
  /** The first plaintext sealed under SK, for a session of envelope version 1. */
  | { form: 'legacy'; envelope: InitialEnvelope };

/** Either form of `x3dh.initial`; which one is decided by its fields (`dh`... or `nonce`). */
export function decodeAnyInitialEnvelope(bytes: Uint8Array): Parsed<z.ZodType<AnyInitialEnvelope>> {
  const parsed = parsePayload(anyInitialSchema, bytes);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  const handshake = {
    identityKey: v.ik, ephemeralKey: v.ek, signedPreKeyId: v.spk_id, oneTimePreKeyId: v.opk_id === -1 ? null : v.opk_id,
  };
  return 'nonce' in v
    ? { ok: true, value: { form: 'legacy', envelope: { ...handshake, nonce: v.nonce, ciphertext: v.ciphertext } } }
    : { ok: true, value: { form: 'ratchet', envelope: { ...handshake, message: messageFrom(v) } } };
}

/** `{"v":2,"dh":B64,"pn":int,"n":int,"ciphertext":B64}`, keys in that order, no whitespace. */
export function encodeRatchetSessionEnvelope(message: RatchetMessage): Uint8Array {
  return utf8.encode(JSON.stringify({ v: 2, ...ratchetJson(message) }));
}

export type AnySessionEnvelope =
  | { version: 2; message: RatchetMessage }
  | { version: 1; n: number; nonce: Uint8Array; ciphertext: Uint8Array };

/** Either session envelope version; open version 1 with openSessionEnvelope, version 2 with ratchetDecrypt. */
export function decodeSessionEnvelope(bytes: Uint8Array): Parsed<z.ZodType<AnySessionEnvelope>> {
  const parsed = parsePayload(anySessionSchema, bytes);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  return v.v === 2
    ? { ok: true, value: { version: 2, message: messageFrom(v) } }
    : { ok: true, value: { version: 1, n: v.n, nonce: v.nonce, ciphertext: v.ciphertext } };
}
