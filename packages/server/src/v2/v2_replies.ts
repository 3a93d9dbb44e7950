import { wireV2 } from '@x3dh-iot/protocol';
import type { z } from 'zod';
import type { Refusal } from '../domain/refusal.js';
import type { Outcome, Push, Reply } from '../processing/request_protocol.js';

/** JSON payloads of v2 responses and pushes (docs/protocol-v2.md sections 4 and 5). */

export function okReply<O extends wireV2.V2Operation>(
  _operation: O, result: wireV2.RequestResultJson<O>, pushes?: readonly Push[],
): Reply {
  return { body: JSON.stringify({ ok: true, result }), outcome: 'ok', ...(pushes && pushes.length > 0 ? { pushes } : {}) };
}

const OUTCOMES: Partial<Record<wireV2.ErrorCode, Outcome>> = {
  bad_request: 'invalid', payload_too_large: 'invalid', unavailable: 'unavailable', internal: 'failed',
};

/** Codes answered before the request is authenticated: nothing changed, so nothing is recorded. */
const UNRECORDED: readonly wireV2.ErrorCode[] = [
  'bad_request', 'payload_too_large', 'unknown_device', 'stale_request', 'bad_signature', 'replayed_request',
];

export function errorReply(code: wireV2.ErrorCode, message: string, retryAfterMs?: number): Reply {
  const error: wireV2.ErrorBody = { code, message, ...(retryAfterMs !== undefined ? { retry_after_ms: retryAfterMs } : {}) };
  return {
    body: JSON.stringify({ ok: false, error }),
    outcome: OUTCOMES[code] ?? 'refused',
    ...(UNRECORDED.includes(code) ? { unrecorded: true } : {}),
  };
}

export const refusalReply = (refusal: Refusal): Reply => errorReply(refusal.code, refusal.message, refusal.retryAfterMs);

/** A push as JSON text fields (keys in base64url). */
export type PushJson = z.input<typeof wireV2.pushSchema>;

export function pushTo(device: string, push: PushJson): Push {
  return { topic: wireV2.pushTopic(device), body: JSON.stringify(push) };
}
