import { activeBackend, encodeBase64url, type KeyPair, wireV2, xeddsaSigningKey, type XeddsaSigningKey } from '@x3dh-iot/protocol';
import { RequestTimeoutError } from '@x3dh-iot/transport';
import { DeviceError } from '../errors.js';
import type { V2Link } from './v2_link.js';

type Operation = wireV2.V2Operation;

/** The server's refusal of a v2 request, with its error code (docs/protocol-v2.md section 4). */
export class V2RequestError extends DeviceError {
  constructor(readonly code: wireV2.ErrorCode, message: string, readonly retryAfterMs: number | undefined) {
    super(wireV2.RETRYABLE_ERROR_CODES.includes(code) ? 'UNREACHABLE' : 'SERVER_REFUSED', message);
    this.name = 'V2RequestError';
  }
}

export interface V2ClientOptions {
  /** Wait this long for each response (the firmware's 10 s by default). */
  timeoutMs?: number;
  /** Attempts of one request in all (first send, resends after a timeout or a retryable error). */
  maxAttempts?: number;
  /**
   * Resend the same request only while its time is this close to now: past the server's window
   * (300 s) a resend would be refused as stale, so a new request is needed instead.
   */
  resendWindowMs?: number;
  /** First backoff after `unavailable` or `internal`; doubled on each retry. */
  retryBackoffMs?: number;
  /** Told before each resend, so a person waiting sees why nothing has happened yet. */
  onResend?: (notice: ResendNotice) => void;
  now?: () => number;
}

export interface ResendNotice {
  operation: Operation;
  /** The attempt about to start (2 for the first resend). */
  attempt: number;
  maxAttempts: number;
  reason: string;
}

const SERVER_WINDOW_MS = 300_000;

/**
 * The device side of wire protocol v2's requests: every request is signed with the identity key
 * over deployment id, operation, device, request id, time and payload digest; every response is checked against
 * the operation's schema. A request that gets no answer, or `unavailable`/`internal`, is sent again
 * unchanged (same request id, time and signature): the server answers a repeat with the stored
 * response, so nothing runs twice.
 */
export class V2Client {
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly resendWindowMs: number;
  private readonly retryBackoffMs: number;
  private readonly onResend: (notice: ResendNotice) => void;
  private readonly now: () => number;
  /** The signing key of the identity that signed last, derived once rather than per request. */
  private signer: { privateKey: Uint8Array; key: XeddsaSigningKey } | undefined;

  constructor(private readonly link: V2Link, readonly device: string, readonly deploymentId: string, options: V2ClientOptions = {}) {
    if (!wireV2.isDeviceName(device)) {
      throw new DeviceError('INVALID_INPUT', `device name ${JSON.stringify(device)} is not usable with v2: 1 to 64 of A-Z a-z 0-9 . _ -`);
    }
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.resendWindowMs = options.resendWindowMs ?? SERVER_WINDOW_MS - 30_000;
    this.retryBackoffMs = options.retryBackoffMs ?? 500;
    this.onResend = options.onResend ?? (() => {});
    this.now = options.now ?? Date.now;
  }

  /**
   * Signs and sends one request with `identity`, resending it as described above, and returns its
   * checked result. `requestId` is for a body that names its own request id (an enrolment proof).
   */
  async call<O extends Operation>(
    identity: KeyPair, operation: O, body: wireV2.RequestBodyInput<O>, requestId: Uint8Array = activeBackend.randomBytes(wireV2.REQUEST_ID_BYTES),
  ): Promise<wireV2.RequestResult<O>> {
    const checked = wireV2.requestBodies[operation].safeParse(body);
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      throw new DeviceError('INVALID_INPUT', `${operation}: ${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const timestamp = this.now();
    if (this.signer?.privateKey !== identity.privateKey) this.signer = { privateKey: identity.privateKey, key: xeddsaSigningKey(identity.privateKey) };
    const signature = wireV2.signRequestWith(this.signer.key, { deploymentId: this.deploymentId, operation, device: this.device, requestId, timestamp, payload });
    const request = {
      topic: wireV2.requestTopic(this.device, operation),
      payload,
      responseTopic: wireV2.responseTopic(this.device),
      correlationData: Buffer.from(requestId),
      userProperties: {
        [wireV2.TIMESTAMP_PROPERTY]: String(timestamp), [wireV2.SIGNATURE_PROPERTY]: encodeBase64url(signature),
        [wireV2.DEPLOYMENT_PROPERTY]: this.deploymentId,
      },
      timeoutMs: this.timeoutMs,
    };
    // Not a retry library: a resend must be the same signed request, only within the server's time
    // window, and timeouts, retryable codes and final refusals each end the loop differently.
    for (let attempt = 1; ; attempt++) {
      const mayResend = attempt < this.maxAttempts && this.now() - timestamp < this.resendWindowMs;
      let response: { payload: Buffer };
      try {
        response = await this.link.request(request);
      } catch (error) {
        if (error instanceof RequestTimeoutError) {
          if (mayResend) {
            this.onResend({ operation, attempt: attempt + 1, maxAttempts: this.maxAttempts, reason: `no answer within ${this.timeoutMs / 1000} s` });
            continue;
          }
          throw new DeviceError('UNREACHABLE',
            `no answer from the server to ${operation} within ${this.timeoutMs / 1000} s (${attempt} attempts; the request may still have been processed)`,
            { cause: error });
        }
        if (error instanceof DeviceError) throw error;
        throw new DeviceError('UNREACHABLE', `${operation} request failed: ${(error as Error).message}`, { cause: error });
      }
      const parsed = wireV2.parsePayload(wireV2.responseSchema, response.payload);
      if (!parsed.ok) throw new DeviceError('BAD_RESPONSE', `malformed response to ${operation}: ${parsed.error}`);
      if (parsed.value.ok) {
        const result = wireV2.results[operation].safeParse(parsed.value.result);
        if (!result.success) {
          const issue = result.error.issues[0]!;
          throw new DeviceError('BAD_RESPONSE', `malformed result of ${operation}: ${issue.path.join('.') || 'result'}: ${issue.message}`);
        }
        return result.data as wireV2.RequestResult<O>;
      }
      const { code, message, retry_after_ms: retryAfterMs } = parsed.value.error;
      if (wireV2.RETRYABLE_ERROR_CODES.includes(code) && mayResend) {
        this.onResend({ operation, attempt: attempt + 1, maxAttempts: this.maxAttempts, reason: `the server answered ${code}` });
        await sleep(this.retryBackoffMs * 2 ** (attempt - 1));
        continue;
      }
      throw new V2RequestError(code, describe(operation, code, message, retryAfterMs), retryAfterMs);
    }
  }
}

function describe(operation: Operation, code: wireV2.ErrorCode, message: string, retryAfterMs: number | undefined): string {
  const hint = {
    stale_request: ' (check this device\'s clock)',
    rate_limited: retryAfterMs === undefined ? '' : ` (try again in ${Math.ceil(retryAfterMs / 1000)} s)`,
    enrolment_required: ' (ask the operator for an enrolment token: --token or X3DH_ENROLMENT_TOKEN)',
  }[code as string] ?? '';
  return `server refused ${operation}: ${code}: ${message}${hint}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
