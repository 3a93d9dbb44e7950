import { wireV2 } from '@x3dh-iot/protocol';
import type { PreparedRequest, Reply, RequestProtocol } from '../processing/request_protocol.js';
import type { InboundRequest } from '../transport/request_channel.js';
import { inDeviceOrder } from './device_order.js';
import { isRequestIdUsed } from '../domain/refusal.js';
import {
  answerUsedRequestId, authenticate, checkRequestId, requestIdGate, withinClockSkew, type UsedRequestId,
} from './request_authentication.js';
import { readSignedRequest, type SignedRequest } from './signed_request.js';
import { IdentityCache, type KnownIdentity } from './identity_cache.js';
import { recordsOwnRequestId, runOperation, runRecordingOperation, type V2Call } from './v2_operations.js';
import { errorReply, refusalReply } from './v2_replies.js';
import type { V2Settings } from './v2_settings.js';
import type { OperatorIdentity } from './operator_identity.js';

/** The protocol's payload limit (docs/protocol-v2.md section 3.2); --max-payload can only lower it. */
export const MAX_V2_PAYLOAD_BYTES = wireV2.MAX_REQUEST_BYTES;

/** A request whose id was used before: the first reply of the same request sent again, or its refusal. */
const usedRequestIdReply = (used: UsedRequestId): Reply => (used.ok === 'resent' ? used.reply : refusalReply(used));

/** Identity keys remembered per server process: a few MB for a large fleet. */
const REMEMBERED_IDENTITIES = 100_000;
/** A store that is down or full rarely recovers within a second; devices retry after this long. */
const UNAVAILABLE_RETRY_AFTER_MS = 2000;

/**
 * Wire protocol v2 (docs/protocol-v2.md): signed requests on `x3dh/v2/req/<device>/<operation>`,
 * answered on `x3dh/v2/resp/<device>` whatever Response Topic the request named.
 *
 * Check 1 (topic, size, schema, request id, time and signature fields) runs here without the
 * database; checks 2 to 5 and the operation run in the request's transaction. For the frequent
 * operations (recordsOwnRequestId) of a device seen before, checks 3 and 4 run here too, against
 * its remembered identity key, and the operation's own statement confirms that key (check 2) and
 * records the request id (check 5): one statement in all. Any doubt (the key changed, the id was
 * used) sends the request through the checks in order.
 */
export class V2Protocol implements RequestProtocol {
  readonly requestFilters = [wireV2.REQUEST_FILTER] as const;
  readonly unavailableReply = errorReply('unavailable', 'the store cannot be reached or cannot write; send the same request again after retry_after_ms', UNAVAILABLE_RETRY_AFTER_MS);
  readonly failedReply = errorReply('internal', 'unexpected server failure; send the same request again later');

  private readonly identities = new IdentityCache(REMEMBERED_IDENTITIES);
  private readonly clock: () => number;

  constructor(private readonly settings: V2Settings, private readonly operator: OperatorIdentity) {
    this.clock = settings.clock ?? Date.now;
  }

  /** The device the topic names (its fourth level), whatever the rest of the topic. */
  requester(request: InboundRequest): string | null {
    const level = request.topic.split('/', 4)[3];
    return level !== undefined && wireV2.isDeviceName(level) ? level : null;
  }

  rateLimited(request: InboundRequest, retryAfterMs: number): PreparedRequest & { reply: Reply } {
    const device = this.requester(request);
    return {
      operation: wireV2.parseRequestTopic(request.topic)?.operation ?? 'unknown',
      responseTopic: device === null ? null : wireV2.responseTopic(device),
      reply: { ...errorReply('rate_limited', `too many requests from this device; try again in ${retryAfterMs} ms`, retryAfterMs), outcome: 'limited' },
    };
  }

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
    if (signed.deploymentId !== this.operator.deploymentId) {
      return answer(errorReply('wrong_deployment',
        `the request is for deployment ${signed.deploymentId}, this server serves ${this.operator.deploymentId}: provision the device with this deployment's id and operator key`));
    }

    const call = { operation, body: parsed.value } as V2Call;
    const enrolmentKey = call.operation === 'enroll' ? call.body.identity_key : undefined;
    // One reading of the clock judges the request's time and dates its request id.
    const receivedAt = this.clock();
    const verifiedWith = recordsOwnRequestId(call) ? this.verifiedByRememberedKey(signed, receivedAt) : undefined;
    return {
      operation,
      responseTopic: wireV2.responseTopic(device),
      digest: signed.replyDigest,
      execute: (sql) => inDeviceOrder(sql, device, async () => {
        const gate = requestIdGate(signed, this.settings.clockSkewSeconds, receivedAt);
        if (verifiedWith !== undefined && recordsOwnRequestId(call)) {
          const reply = await runRecordingOperation(sql, device, verifiedWith.deviceId, call, this.settings, this.operator, { ...gate, verifiedWith });
          if (!isRequestIdUsed(reply)) return reply;
          // The id was used, or the key changed or the device was deleted since: the checks in order say which.
        }
        const auth = await authenticate(sql, signed, enrolmentKey, this.settings.clockSkewSeconds, receivedAt);
        if (!auth.ok) {
          // Not on a bad signature: forged requests must not evict the genuine device's key.
          if (auth.code === 'unknown_device') this.identities.forget(device);
          return refusalReply(auth);
        }
        if (auth.device !== null && !auth.device.deleted && !auth.device.disabled) {
          this.identities.remember(device, { deviceId: auth.device.id, identityKey: auth.device.identity_key });
        }
        const used = recordsOwnRequestId(call) ? null : await checkRequestId(sql, signed, gate);
        if (used !== null) return usedRequestIdReply(used);
        const reply = await runOperation(sql, device, auth.device, call, this.settings, this.operator, gate);
        return isRequestIdUsed(reply) ? usedRequestIdReply(await answerUsedRequestId(sql, signed)) : reply;
      }),
    };
  }

  /** The remembered identity of the requester, if its request is within the time window and verifies under its key. */
  private verifiedByRememberedKey(signed: SignedRequest, receivedAt: number): KnownIdentity | undefined {
    const known = this.identities.get(signed.device);
    if (known === undefined || !withinClockSkew(signed, this.settings.clockSkewSeconds, receivedAt)) return undefined;
    return wireV2.verifyRequest(known.identityKey, signed, signed.signature) ? known : undefined;
  }
}
