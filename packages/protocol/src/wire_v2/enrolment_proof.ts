import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { checkLength, concatBytes, constantTimeEqual, utf8 } from '../bytes.js';
import { InvalidMessageError } from '../errors.js';
import { X25519_KEY_BYTES } from '../sizes.js';
import { REQUEST_ID_BYTES } from './request_signature.js';
import { isDeviceName } from './topics.js';

/**
 * Proof of an enrolment token without sending it (docs/protocol-v2.md section 6.1). From the
 * token's secret (SHA-256 of its text, which is also what the server stores) come a public token
 * id, for the server to find the token, and a MAC key; the device sends the id and an
 * HMAC-SHA256 under that key over its name, identity key and request id, so the bytes on the
 * broker neither reveal the token nor prove anything for another name, key or request.
 */

export const ENROLMENT_TOKEN_ID_BYTES = 32;
export const ENROLMENT_PROOF_BYTES = 32;
const ID_DOMAIN = utf8.encode('x3dh-iot/v2/enrolment-token-id\0');
const MAC_KEY_INFO = utf8.encode('x3dh-iot/v2/enrolment-mac-key');
const PROOF_DOMAIN = utf8.encode('x3dh-iot/v2/enrolment-proof\0');

/** SHA-256 of the token's UTF-8 text (32 bytes): the secret both sides derive the rest from. */
export function enrolmentTokenSecret(token: string): Uint8Array {
  if (token.length === 0) throw new InvalidMessageError('the enrolment token is empty');
  return sha256(utf8.encode(token));
}

/** SHA-256(domain || secret): names the token on the wire and in the store, and reveals nothing of the secret. */
export function enrolmentTokenId(secret: Uint8Array): Uint8Array {
  return sha256(concatBytes(ID_DOMAIN, checkLength('enrolment token secret', secret, 32)));
}

/** HKDF-SHA256(ikm = secret, no salt, info = "x3dh-iot/v2/enrolment-mac-key"), 32 bytes. */
export function enrolmentMacKey(secret: Uint8Array): Uint8Array {
  return hkdf(sha256, checkLength('enrolment token secret', secret, 32), undefined, MAC_KEY_INFO, 32);
}

/** domain || len8(device) || device || identity key (32) || request id (16). */
export function enrolmentProofInput(device: string, identityKey: Uint8Array, requestId: Uint8Array): Uint8Array {
  if (!isDeviceName(device)) throw new InvalidMessageError('invalid device name');
  const name = utf8.encode(device);
  return concatBytes(
    PROOF_DOMAIN, Uint8Array.of(name.length), name, checkLength('identity key', identityKey, X25519_KEY_BYTES),
    checkLength('request id', requestId, REQUEST_ID_BYTES),
  );
}

export function enrolmentProof(macKey: Uint8Array, device: string, identityKey: Uint8Array, requestId: Uint8Array): Uint8Array {
  return hmac(sha256, checkLength('enrolment MAC key', macKey, 32), enrolmentProofInput(device, identityKey, requestId));
}

export function verifyEnrolmentProof(
  macKey: Uint8Array, device: string, identityKey: Uint8Array, requestId: Uint8Array, proof: Uint8Array,
): boolean {
  return proof.length === ENROLMENT_PROOF_BYTES && constantTimeEqual(enrolmentProof(macKey, device, identityKey, requestId), proof);
}

/** The `token_id` and `token_proof` members of an `enroll` body for this token, name, key and request id. */
export function enrolmentTokenClaim(
  token: string, device: string, identityKey: Uint8Array, requestId: Uint8Array,
): { tokenId: Uint8Array; proof: Uint8Array } {
  const secret = enrolmentTokenSecret(token);
  return { tokenId: enrolmentTokenId(secret), proof: enrolmentProof(enrolmentMacKey(secret), device, identityKey, requestId) };
}
