import { wireV2 } from '@x3dh-iot/protocol';
import type { Refusal } from '../domain/refusal.js';
import { refuse } from '../domain/refusal.js';
import type { Reply } from '../processing/request_protocol.js';
import type { Sql } from '../storage/database.js';
import { findProcessedReplies } from '../storage/queries/processed_request_queries.js';
import { findRequestId, recordRequestId } from '../storage/queries/request_id_queries.js';
import { findDevice, type DeviceRow } from '../storage/queries/v2_device_queries.js';
import type { SignedRequest } from './signed_request.js';

/** The requester, once checks 2 to 5 passed; null for an enrolment of a name not yet held. */
export type Authenticated = { ok: true; device: DeviceRow | null } | Refusal | { ok: 'resent'; reply: Reply };

/**
 * Checks 2 to 5 of docs/protocol-v2.md section 3.2, in that order: the device exists (an enrolment
 * brings its key), the time is within the skew, the signature verifies, and the request id is new
 * or this very request sent again (then its first reply is returned instead of running it twice).
 */
export async function authenticate(
  sql: Sql, request: SignedRequest, enrolmentKey: Uint8Array | undefined, clockSkewSeconds: number,
): Promise<Authenticated> {
  let device = await findDevice(sql, request.device);
  if (device !== null && device.deleted) device = enrolmentKey === undefined ? null : device;
  if (enrolmentKey === undefined && device === null) return refuse('unknown_device', `${request.device} is not enrolled`);

  const skewMs = Math.abs(Date.now() - request.timestamp);
  if (skewMs > clockSkewSeconds * 1000) {
    return refuse('stale_request', `request time is ${Math.round(skewMs / 1000)} s off the server's clock (at most ${clockSkewSeconds} s)`);
  }

  const key = enrolmentKey ?? device!.identity_key;
  if (!wireV2.verifyRequest(key, request, request.signature)) {
    return refuse('bad_signature', enrolmentKey === undefined
      ? 'request signature does not verify under the device identity key'
      : 'request signature does not verify under identity_key');
  }

  const keepSeconds = 2 * clockSkewSeconds;
  if (!await recordRequestId(sql, request, keepSeconds)) {
    const earlier = await findRequestId(sql, request.device, request.requestId);
    if (earlier !== null && Buffer.from(earlier.signed_digest).equals(request.signedDigest)) {
      // The same request signed again: the answer is the first one, if it was recorded by now.
      const reply = (await findProcessedReplies(sql, [earlier.reply_digest])).get(earlier.reply_digest);
      if (reply !== undefined) return { ok: 'resent', reply: { body: reply, outcome: 'replayed', unrecorded: true } };
    }
    return refuse('replayed_request', 'request id already used for another request');
  }
  return { ok: true, device };
}
