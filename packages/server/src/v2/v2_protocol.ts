import { wireV2 } from '@x3dh-iot/protocol';
import type { PreparedRequest, Reply, RequestProtocol } from '../processing/request_protocol.js';
import type { InboundRequest } from '../transport/request_channel.js';
import { inDeviceOrder } from './device_order.js';
import { isRequestIdUsed } from '../domain/refusal.js';
import {
  answerUsedRequestId, authenticate, checkRequestId, requestIdGate, type UsedRequestId,
} from './request_authentication.js';
import { readSignedRequest } from './signed_request.js';
import { recordsOwnRequestId, runOperation, type V2Call } from './v2_operations.js';
import { errorReply, refusalReply } from './v2_replies.js';
import type { V2Settings } from './v2_settings.js';

/** The protocol's payload limit (docs/protocol-v2.md section 3.2); --max-payload can only lower it. */
export const MAX_V2_PAYLOAD_BYTES = wireV2.MAX_REQUEST_BYTES;

/** A request whose id was used before: the first reply of the same request sent again, or its refusal. */
const usedRequestIdReply = (used: UsedRequestId): Reply => (used.ok === 'resent' ? used.reply : refusalReply(used));

/**
 * Wire protocol v2 (docs/protocol-v2.md): signed requests on `x3dh/v2/req/<device>/<operation>`,
 * answered on `x3dh/v2/resp/<device>` whatever Response Topic the request named.
 *
 * Check 1 (topic, size, schema, request id, time and signature fields) runs here without the
 * database; checks 2 to 5 and the operation run in the request's transaction.
 */
export class V2Protocol implements RequestProtocol {
  readonly requestFilters = [wireV2.REQUEST_FILTER] as const;
  readonly unavailableReply = errorReply('unavailable', 'the database cannot be reached; send the same request again later');
  readonly failedReply = errorReply('internal', 'unexpected server failure; send the same request again later');

  constructor(private readonly settings: V2Settings) {}

  prepare(request: InboundRequest): PreparedRequest {
    const route = wireV2.parseRequestTopic(request.topic);
    if (route === null) {
      // Answered only when the topic names a valid device, the one topic the answer may go to.
      const level = request.topic.split('/')[3];
      const responseTopic = level !== undefined && wireV2.isDeviceName(level) ? wireV2.responseTopic(level) : null;
      return { operation: 'unknown', responseTopic, reply: errorReply('bad_request', `unknown topic ${request.topic}`) };
    }
    const { device, operation } = route;
    const answer = (reply: Reply): PreparedRequest => ({ operation, responseTopic: wireV2.responseTopic(device), reply });

    if (request.payload.length > this.settings.maxPayloadBytes) {
      return answer(errorReply('payload_too_large', `payload is ${request.payload.length} bytes, at most ${this.settings.maxPayloadBytes}`));
    }
    const parsed = wireV2.parsePayload(wireV2.requestBodies[operation], request.payload);
    if (!parsed.ok) return answer(errorReply('bad_request', parsed.error));
    const signed = readSignedRequest(request, device, operation);
    if (typeof signed === 'string') return answer(errorReply('bad_request', signed));

    const call = { operation, body: parsed.value } as V2Call;
    const enrolmentKey = call.operation === 'enroll' ? call.body.identity_key : undefined;
    return {
      operation,
      responseTopic: wireV2.responseTopic(device),
      digest: signed.replyDigest,
      execute: (sql) => inDeviceOrder(sql, device, async () => {
        const auth = await authenticate(sql, signed, enrolmentKey, this.settings.clockSkewSeconds);
        if (!auth.ok) return refusalReply(auth);
        const gate = requestIdGate(signed, this.settings.clockSkewSeconds);
        const used = recordsOwnRequestId(operation) ? null : await checkRequestId(sql, signed, gate);
        if (used !== null) return usedRequestIdReply(used);
        const reply = await runOperation(sql, device, auth.device, call, this.settings, gate);
        return isRequestIdUsed(reply) ? usedRequestIdReply(await answerUsedRequestId(sql, signed)) : reply;
      }),
    };
  }
}
