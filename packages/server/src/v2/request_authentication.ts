import { wireV2 } from '@x3dh-iot/protocol';
import type { Refusal } from '../domain/refusal.js';
import { refuse } from '../domain/refusal.js';
import type { Reply } from '../processing/request_protocol.js';
import type { Sql } from '../storage/database.js';
import { findProcessedReplies } from '../storage/queries/processed_request_queries.js';
import { findRequestId, recordRequestId, type RequestIdGate } from '../storage/queries/request_id_queries.js';
import { findDevice, type DeviceRow } from '../storage/queries/v2_device_queries.js';
import { disabledRefusal } from '../domain/device_lifecycle.js';
import type { SignedRequest } from './signed_request.js';

/** The requester, once checks 2 to 4 passed; null for an enrolment of a name not yet held. */
export type Authenticated = { ok: true; device: DeviceRow | null } | Refusal;

/** The answer to a request whose id was used before (check 5 failed). */
export type UsedRequestId = Refusal | { ok: 'resent'; reply: Reply };

/**
 * Checks 2 to 4 of docs/protocol-v2.md section 3.2, in that order: the device exists (an enrolment
 * brings its key) and is not disabled by the operator (an enrolment goes on), the time is within
 * the skew, and the signature verifies. Check 5 follows only then: recordRequestId
 * (checkRequestId) or, for the operations that record the request id in their own first
 * statement, that statement.
 */
export async function authenticate(
  sql: Sql, request: SignedRequest, enrolmentKey: Uint8Array | undefined, clockSkewSeconds: number, receivedAt: number,
): Promise<Authenticated> {
  let device = await findDevice(sql, request.device);
  // A v1 name is no v2 device: refused here, and an enrolment of it gets name_taken (enrolDevice).
  if (device !== null && device.v1) device = null;
  // Only an enrolment with a new token takes a disabled device back (its key may be stolen).
  if (device !== null && device.disabled && enrolmentKey === undefined) return disabledRefusal(request.device);
  if (device !== null && device.deleted) device = enrolmentKey === undefined ? null : device;
  if (enrolmentKey === undefined && device === null) return refuse('unknown_device', `${request.device} is not enrolled`);

  if (!withinClockSkew(request, clockSkewSeconds, receivedAt)) {
    const skewSeconds = Math.round(Math.abs(receivedAt - request.timestamp) / 1000);
    return refuse('stale_request', `request time is ${skewSeconds} s off the server's clock (at most ${clockSkewSeconds} s)`);
  }

  const key = enrolmentKey ?? device!.identity_key;
  if (!wireV2.verifyRequest(key, request, request.signature)) {
    return refuse('bad_signature', enrolmentKey === undefined
      ? 'request signature does not verify under the device identity key'
      : 'request signature does not verify under identity_key');
  }
  return { ok: true, device };
}

/** Check 3: the request's time is within the allowed skew of the server's clock when it received the request. */
export const withinClockSkew = (request: SignedRequest, clockSkewSeconds: number, receivedAt: number): boolean =>
  Math.abs(receivedAt - request.timestamp) <= clockSkewSeconds * 1000;

/**
 * How long a request id stays taken after the server received its request. Twice the skew covers
 * every time at which check 3 can pass on the same clock; one more skew is the margin for replicas
 * whose clocks differ by up to the skew, since any of them may purge the record.
 */
export const requestIdRetentionSeconds = (clockSkewSeconds: number): number => 3 * clockSkewSeconds;

/** The request id's record for check 5, timed by the clock that judged check 3. */
export function requestIdGate(request: SignedRequest, clockSkewSeconds: number, receivedAt: number): RequestIdGate {
  return { record: request, receivedAt, keepSeconds: requestIdRetentionSeconds(clockSkewSeconds) };
}

/**
 * Check 5 on its own: records the request id; null when it is new, else the answer (see
 * answerUsedRequestId).
 */
export async function checkRequestId(sql: Sql, request: SignedRequest, gate: RequestIdGate): Promise<UsedRequestId | null> {
  return await recordRequestId(sql, gate) ? null : answerUsedRequestId(sql, request);
}

/**
 * The request id was used before: when by this very request (sent again), its first reply if it
 * was recorded by now, instead of running it twice; else replayed_request.
 */
export async function answerUsedRequestId(sql: Sql, request: SignedRequest): Promise<UsedRequestId> {
  const earlier = await findRequestId(sql, request.device, request.requestId);
  if (earlier !== null && Buffer.from(earlier.signed_digest).equals(request.signedDigest)) {
    // The same request signed again: the answer is the first one, if it was recorded by now.
    const reply = (await findProcessedReplies(sql, [earlier.reply_digest])).get(earlier.reply_digest);
    if (reply !== undefined) return { ok: 'resent', reply: { body: reply, outcome: 'replayed', unrecorded: true } };
  }
  return refuse('replayed_request', 'request id already used for another request');
}
