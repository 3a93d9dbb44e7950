import { createHash } from 'node:crypto';
import { decodeBase64url, wireV2 } from '@x3dh-iot/protocol';
import type { InboundRequest } from '../transport/request_channel.js';

/** The parts of a v2 request that its signature covers, taken from the MQTT 5 message. */
export interface SignedRequest extends wireV2.SignedRequestFields {
  signature: Uint8Array;
  /** SHA-256 of the signed string: equal for a resend of the same request. */
  signedDigest: Uint8Array;
  /**
   * The request's key for exactly-once processing (its recorded reply): the signed string, which
   * names the device whose signature it carries, and the signature. So two devices never share a
   * record, whatever request id they chose.
   */
  replyDigest: string;
}

const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? undefined : value);

/**
 * Reads request id (Correlation Data), time and signature (user properties) of a request whose
 * topic and payload were checked; a readable problem when one is missing or malformed.
 */
export function readSignedRequest(
  request: InboundRequest, device: string, operation: wireV2.V2Operation,
): SignedRequest | string {
  const requestId = request.correlationData;
  if (requestId === undefined || requestId.length !== wireV2.REQUEST_ID_BYTES) {
    return `Correlation Data must be a ${wireV2.REQUEST_ID_BYTES}-byte request id`;
  }
  const time = single(request.userProperties[wireV2.TIMESTAMP_PROPERTY]);
  if (time === undefined || !/^[0-9]{1,16}$/.test(time) || !Number.isSafeInteger(Number(time))) {
    return `user property ${wireV2.TIMESTAMP_PROPERTY} must be one decimal time in milliseconds`;
  }
  const signatureText = single(request.userProperties[wireV2.SIGNATURE_PROPERTY]);
  if (signatureText === undefined) return `user property ${wireV2.SIGNATURE_PROPERTY} must hold one signature`;
  let signature: Uint8Array;
  try {
    signature = decodeBase64url(signatureText, wireV2.SIGNATURE_PROPERTY);
  } catch (error) {
    return (error as Error).message;
  }
  if (signature.length !== 64) return `${wireV2.SIGNATURE_PROPERTY} must be 64 bytes, got ${signature.length}`;
  const deploymentId = single(request.userProperties[wireV2.DEPLOYMENT_PROPERTY]);
  if (deploymentId === undefined || !wireV2.isDeploymentId(deploymentId)) {
    return `user property ${wireV2.DEPLOYMENT_PROPERTY} must hold one deployment id (1 to 64 of A-Z a-z 0-9 . _ -)`;
  }
  const fields: wireV2.SignedRequestFields = {
    deploymentId, operation, device, requestId: new Uint8Array(requestId), timestamp: Number(time), payload: new Uint8Array(request.payload),
  };
  const signed = wireV2.requestSignatureInput(fields);
  return {
    ...fields,
    signature,
    signedDigest: createHash('sha256').update(signed).digest(),
    replyDigest: `v2:${createHash('sha256').update(signed).update(signature).digest('base64url')}`,
  };
}
