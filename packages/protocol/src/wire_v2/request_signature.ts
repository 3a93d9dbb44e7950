import { backend } from '#crypto-backend';
import { checkBytes, checkLength, concatBytes, utf8 } from '../bytes.js';
import { InvalidMessageError } from '../errors.js';
import { SIGNATURE_BYTES } from '../sizes.js';
import { xeddsaSign, xeddsaSignWith, xeddsaVerify, type XeddsaSigningKey } from '../xeddsa.js';
import { isDeploymentId, isDeviceName, V2_OPERATIONS, type V2Operation } from './topics.js';

export const REQUEST_ID_BYTES = 16;
const DOMAIN = utf8.encode('x3dh-iot/v2/request\0');

export interface SignedRequestFields {
  /** The deployment the request is meant for, sent as the `x3dh-deployment` user property. */
  deploymentId: string;
  operation: V2Operation;
  device: string;
  /** 16 random bytes, sent as the request's Correlation Data. */
  requestId: Uint8Array;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  /** The payload bytes exactly as published. */
  payload: Uint8Array;
}

function lengthPrefixed(text: string): Uint8Array {
  const bytes = utf8.encode(text);
  if (bytes.length > 255) throw new InvalidMessageError('a length-prefixed field is longer than 255 bytes');
  return concatBytes(Uint8Array.of(bytes.length), bytes);
}

/**
 * The byte string a device signs for one request (docs/protocol-v2.md section 3.1): every field has a
 * fixed size or a length prefix, so two different requests never share it, and the payload enters as
 * its SHA-512 digest, so nobody has to canonicalise JSON. The deployment id comes first, so a request
 * signed for one deployment verifies on no other.
 */
export function requestSignatureInput(fields: SignedRequestFields): Uint8Array {
  if (!isDeploymentId(fields.deploymentId)) throw new InvalidMessageError('invalid deployment id');
  if (!V2_OPERATIONS.includes(fields.operation)) throw new InvalidMessageError('unknown v2 operation');
  if (!isDeviceName(fields.device)) throw new InvalidMessageError('invalid device name');
  checkLength('request id', fields.requestId, REQUEST_ID_BYTES);
  checkBytes('request payload', fields.payload);
  if (!Number.isSafeInteger(fields.timestamp) || fields.timestamp < 0) {
    throw new InvalidMessageError('request time must be a non-negative integer of milliseconds');
  }
  const time = new Uint8Array(8);
  new DataView(time.buffer).setBigUint64(0, BigInt(fields.timestamp));
  return concatBytes(
    DOMAIN, lengthPrefixed(fields.deploymentId), lengthPrefixed(fields.operation), lengthPrefixed(fields.device), fields.requestId, time,
    backend.sha512(fields.payload),
  );
}

export function signRequest(identityPrivateKey: Uint8Array, fields: SignedRequestFields): Uint8Array {
  return xeddsaSign(identityPrivateKey, requestSignatureInput(fields));
}

/** signRequest with the identity's signing key derived once (xeddsaSigningKey), for a device signing request after request. */
export function signRequestWith(signingKey: XeddsaSigningKey, fields: SignedRequestFields): Uint8Array {
  return xeddsaSignWith(signingKey, requestSignatureInput(fields));
}

export function verifyRequest(identityPublicKey: Uint8Array, fields: SignedRequestFields, signature: Uint8Array): boolean {
  checkLength('request signature', signature, SIGNATURE_BYTES);
  return xeddsaVerify(identityPublicKey, requestSignatureInput(fields), signature);
}
