import { z } from 'zod';
import { aeadDecrypt, aeadEncrypt, randomAeadNonce } from '../aead.js';
import { checkLength, concatBytes, utf8 } from '../bytes.js';
import { InvalidMessageError } from '../errors.js';
import { encodeBase64url } from '../base64url.js';
import { X25519_KEY_BYTES } from '../sizes.js';
import { keySchema, nonceSchema, base64Bytes, parsePayload, type Parsed } from '../wire_common/schema_parts.js';
import type { KeyPair } from '../x25519.js';
import { type ResponderKeys, x3dhInitiate, x3dhRespond } from '../x3dh.js';
import { MAX_ENVELOPE_BYTES, MAX_PREKEY_ID } from './schemas.js';
import { signedPreKeySignatureInput, type V2PreKeyBundle } from './signed_prekey_signature.js';

/** End-to-end envelopes of v2 (docs/protocol-v2.md section 7). The server never looks inside them. */

/** HKDF info of v2 handshakes. */
export const X3DH_V2_INFO = 'x3dh-iot/v2';
const NO_ONE_TIME_PREKEY = 0xffffffff;

export interface InitialEnvelope {
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  signedPreKeyId: number;
  /** null when the bundle had no one-time prekey (-1 on the wire). */
  oneTimePreKeyId: number | null;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

const u32 = (value: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value);
  return bytes;
};
const u64 = (value: number) => {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value));
  return bytes;
};

function checkPreKeyId(what: string, id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_PREKEY_ID) throw new InvalidMessageError(`${what} must be an integer from 0 to ${MAX_PREKEY_ID}`);
}

/**
 * AD = IK_A || IK_B || u32(spk_id) || u32(opk_id or 0xFFFFFFFF) || EK_A (104 bytes): besides both
 * identities it binds the prekeys used and the ephemeral key, so none can be swapped in transit.
 */
export function initialAssociatedData(
  initiatorIdentityKey: Uint8Array, responderIdentityKey: Uint8Array, signedPreKeyId: number,
  oneTimePreKeyId: number | null, ephemeralKey: Uint8Array,
): Uint8Array {
  checkPreKeyId('signed prekey id', signedPreKeyId);
  if (oneTimePreKeyId !== null) checkPreKeyId('one-time prekey id', oneTimePreKeyId);
  return concatBytes(
    checkLength('initiator identity key', initiatorIdentityKey, X25519_KEY_BYTES),
    checkLength('responder identity key', responderIdentityKey, X25519_KEY_BYTES),
    u32(signedPreKeyId), u32(oneTimePreKeyId ?? NO_ONE_TIME_PREKEY),
    checkLength('ephemeral key', ephemeralKey, X25519_KEY_BYTES),
  );
}

/**
 * Initiator: X3DH against the bundle (aborts on a bad signed-prekey signature or an all-zero DH
 * output) and the first plaintext sealed under SK with the v2 AD.
 */
export function sealInitialEnvelope(
  identity: KeyPair,
  bundle: V2PreKeyBundle,
  plaintext: Uint8Array,
  options: { ephemeral?: KeyPair | undefined; nonce?: Uint8Array | undefined } = {},
): { sharedKey: Uint8Array; envelope: InitialEnvelope } {
  const result = x3dhInitiate(identity, bundle, {
    info: X3DH_V2_INFO, ephemeral: options.ephemeral,
    signedPreKeyMessage: signedPreKeySignatureInput(bundle.device, bundle.signedPreKeyId, bundle.signedPreKey),
  });
  const ad = initialAssociatedData(identity.publicKey, bundle.identityKey, bundle.signedPreKeyId, result.oneTimePreKeyId, result.ephemeralPublicKey);
  const nonce = options.nonce ?? randomAeadNonce();
  return {
    sharedKey: result.sharedKey,
    envelope: {
      identityKey: identity.publicKey,
      ephemeralKey: result.ephemeralPublicKey,
      signedPreKeyId: bundle.signedPreKeyId,
      oneTimePreKeyId: result.oneTimePreKeyId,
      nonce,
      ciphertext: aeadEncrypt(result.sharedKey, nonce, plaintext, ad),
    },
  };
}

/**
 * Responder (X3DH section 3.4): AD is built here from the responder's own identity key and the
 * envelope, never taken from the sender. Throws DecryptionError on any tampering; the caller must
 * keep its prekeys until this returns.
 */
export function openInitialEnvelope(keys: ResponderKeys, envelope: InitialEnvelope): { sharedKey: Uint8Array; plaintext: Uint8Array } {
  const secrets = x3dhRespond(keys, envelope.identityKey, envelope.ephemeralKey, { info: X3DH_V2_INFO });
  const ad = initialAssociatedData(envelope.identityKey, keys.identity.publicKey, envelope.signedPreKeyId, envelope.oneTimePreKeyId, envelope.ephemeralKey);
  return { sharedKey: secrets.sharedKey, plaintext: aeadDecrypt(secrets.sharedKey, envelope.nonce, envelope.ciphertext, ad) };
}

/** An AEAD output (at least the 16-byte tag), as envelopes carry it. */
export const envelopeCiphertextSchema = base64Bytes('ciphertext', (len) => (len < 16 ? `ciphertext must be at least 16 bytes, got ${len}` : len > MAX_ENVELOPE_BYTES ? 'ciphertext too long' : null));

/** The X3DH fields every `x3dh.initial` envelope carries, whatever follows them. */
export const initialHandshakeFields = {
  ik: keySchema,
  ek: keySchema,
  spk_id: z.number().int().min(0).max(MAX_PREKEY_ID),
  opk_id: z.number().int().min(-1).max(MAX_PREKEY_ID),
};

/** The form that seals the first plaintext under SK itself (sessions of envelope version 1). */
export const initialEnvelopeSchema = z.strictObject({ ...initialHandshakeFields, nonce: nonceSchema, ciphertext: envelopeCiphertextSchema });

/** The handshake members every form of `x3dh.initial` starts with, in their order. */
export const initialHandshakeJson = (envelope: Pick<InitialEnvelope, 'identityKey' | 'ephemeralKey' | 'signedPreKeyId' | 'oneTimePreKeyId'>) => ({
  ik: encodeBase64url(envelope.identityKey),
  ek: encodeBase64url(envelope.ephemeralKey),
  spk_id: envelope.signedPreKeyId,
  opk_id: envelope.oneTimePreKeyId ?? -1,
});

export function encodeInitialEnvelope(envelope: InitialEnvelope): Uint8Array {
  return utf8.encode(JSON.stringify({
    ...initialHandshakeJson(envelope),
    nonce: encodeBase64url(envelope.nonce),
    ciphertext: encodeBase64url(envelope.ciphertext),
  }));
}

export function decodeInitialEnvelope(bytes: Uint8Array): Parsed<z.ZodType<InitialEnvelope>> {
  const parsed = parsePayload(initialEnvelopeSchema, bytes);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  return {
    ok: true,
    value: {
      identityKey: v.ik, ephemeralKey: v.ek, signedPreKeyId: v.spk_id,
      oneTimePreKeyId: v.opk_id === -1 ? null : v.opk_id, nonce: v.nonce, ciphertext: v.ciphertext,
    },
  };
}

/** AD of a session message: sender and recipient identity keys and the sender's message number. */
export function sessionAssociatedData(senderIdentityKey: Uint8Array, recipientIdentityKey: Uint8Array, n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidMessageError('message number must be a non-negative integer');
  return concatBytes(
    checkLength('sender identity key', senderIdentityKey, X25519_KEY_BYTES),
    checkLength('recipient identity key', recipientIdentityKey, X25519_KEY_BYTES),
    u64(n),
  );
}

/** Session envelope version 1: every message sealed under SK (before the Double Ratchet). */
export const sessionEnvelopeSchema = z.strictObject({
  v: z.literal(1),
  n: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  nonce: nonceSchema,
  ciphertext: envelopeCiphertextSchema,
});

/** Seals the sender's message number `n` of a session (envelope version 1, before the Double Ratchet). */
export function sealSessionEnvelope(
  sharedKey: Uint8Array, senderIdentityKey: Uint8Array, recipientIdentityKey: Uint8Array, n: number, plaintext: Uint8Array,
): Uint8Array {
  const nonce = randomAeadNonce();
  const sealed = aeadEncrypt(sharedKey, nonce, plaintext, sessionAssociatedData(senderIdentityKey, recipientIdentityKey, n));
  return utf8.encode(JSON.stringify({ v: 1, n, nonce: encodeBase64url(nonce), ciphertext: encodeBase64url(sealed) }));
}

/** Opens a session envelope; the caller refuses an `n` it accepted before. Throws on malformed or forged input. */
export function openSessionEnvelope(
  sharedKey: Uint8Array, senderIdentityKey: Uint8Array, recipientIdentityKey: Uint8Array, bytes: Uint8Array,
): { n: number; plaintext: Uint8Array } {
  const parsed = parsePayload(sessionEnvelopeSchema, bytes);
  if (!parsed.ok) throw new InvalidMessageError(`session envelope: ${parsed.error}`);
  const { n, nonce, ciphertext: sealed } = parsed.value;
  return { n, plaintext: aeadDecrypt(sharedKey, nonce, sealed, sessionAssociatedData(senderIdentityKey, recipientIdentityKey, n)) };
}
