import type { Logger } from 'pino';
import type { ServerMetrics } from '../ops/metrics.js';
import type { InboundRequest, RequestChannel } from '../transport/request_channel.js';
import type { BatchExecutor } from './batch_executor.js';
import { RateLimiter, type RateLimit } from './rate_limiter.js';
import { requestDigest } from './request_digest.js';
import type { PreparedRequest, Reply, RequestProtocol } from './request_protocol.js';
import { topicFilterMatcher } from './topic_filter.js';

export interface RequestLimits {
  /** Requests of one device, counted before any check of theirs (signature, database). */
  perDevice: RateLimit;
  /** Most requests of one device waiting for a transaction at once; more are refused. */
  deviceQueue: number;
}

/** Requests of the devices a protocol cannot tell apart (v1) waiting at once: a bound on memory only. */
const UNATTRIBUTED_QUEUE = 4096;
/** When a request is refused because its sender's queue is full: about the time a queue takes to move. */
const QUEUE_FULL_RETRY_MS = 1000;

/**
 * Takes each request from the transport to its reply: routing to the protocol whose topic filters
 * match, the sender's request limits, validation by that protocol (bad input is answered at once,
 * without touching the database), execution in a batched transaction, then the reply and any
 * pushes, with a metric and a debug log line per request.
 *
 * The limits come first and cost a topic split and a map lookup, so a device flooding the server
 * with requests, well formed or not, gets `rate_limited` for the excess before any signature check
 * or database work (answered at its own rate, the rest dropped); what it may send waits in its own
 * queue (FairQueue), which other devices' requests do not wait behind.
 */
export class RequestDispatcher {
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private readonly routes: {
    protocol: RequestProtocol;
    matchers: ((levels: readonly string[]) => boolean)[];
    /** The sender of the requests whose devices the protocol cannot tell apart; never a device name. */
    unattributed: string;
  }[];
  private readonly limiter: RateLimiter;
  private readonly refusals: RateLimiter;

  constructor(
    private readonly protocols: readonly RequestProtocol[],
    private readonly executor: BatchExecutor,
    private readonly channel: Pick<RequestChannel, 'reply' | 'publish'>,
    private readonly limits: RequestLimits,
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
    /** Told of every device whose request was served (the console's "last seen"). */
    private readonly onServed: (device: string) => void = () => {},
  ) {
    this.routes = protocols.map((protocol, index) => ({
      protocol, matchers: protocol.requestFilters.map(topicFilterMatcher), unattributed: `protocol ${index}`,
    }));
    this.limiter = new RateLimiter(limits.perDevice);
    this.refusals = new RateLimiter(limits.perDevice);
  }

  /** Every topic filter of every protocol served, for the subscriptions. */
  get requestFilters(): string[] {
    return this.protocols.flatMap((protocol) => protocol.requestFilters);
  }

  handle(request: InboundRequest): void {
    this.inFlight += 1;
    void this.dispatch(request).finally(() => {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
    });
  }

  /** Resolves once every request received so far has been answered. */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async dispatch(request: InboundRequest): Promise<void> {
    const started = performance.now();
    const levels = request.topic.split('/');
    const route = this.routes.find((candidate) => candidate.matchers.some((matches) => matches(levels)));
    if (route === undefined) {
      // Only reachable through a broker delivering beyond the subscriptions.
      this.channel.reply(request, JSON.stringify({ error: 'Unknown topic' }));
      this.log.warn({ topic: request.topic }, 'request on a topic no protocol serves');
      return;
    }
    const { protocol } = route;
    const device = protocol.requester(request);
    const sender = device ?? route.unattributed;
    const retryAfterMs = this.admit(device, sender);
    const prepared = retryAfterMs === null ? protocol.prepare(request) : this.refuse(protocol, request, device, retryAfterMs);
    let reply: Reply;
    if ('reply' in prepared) {
      reply = prepared.reply;
    } else {
      const digest = prepared.digest !== undefined ? prepared.digest
        : requestDigest(request.topic, request.responseTopic, request.correlationData, request.payload);
      reply = await this.executor.run({
        sender, digest, execute: prepared.execute, unavailableReply: protocol.unavailableReply, failedReply: protocol.failedReply,
      });
    }
    this.channel.reply(request, reply.body, prepared.responseTopic);
    // After the reply, which the executor released only after the commit.
    for (const push of reply.pushes ?? []) this.channel.publish(push.topic, push.body);
    const seconds = (performance.now() - started) / 1000;
    this.metrics.observeRequest(prepared.operation, reply.outcome, seconds);
    if (device !== null && reply.outcome === 'ok') this.onServed(device);
    this.log.debug({ topic: request.topic, operation: prepared.operation, outcome: reply.outcome, ms: seconds * 1000 }, 'request');
  }

  /**
   * A device's refusals are answered as often as its requests may be; the rest of a flood gets no
   * answer (only the broker's acknowledgement): the device has been told to wait, and answering
   * every request would cost the server about as much as the flood costs its sender.
   */
  private refuse(protocol: RequestProtocol, request: InboundRequest, device: string | null, retryAfterMs: number): PreparedRequest {
    const refusal = protocol.rateLimited(request, retryAfterMs);
    return device !== null && this.refusals.take(device) !== null ? { ...refusal, responseTopic: null } : refusal;
  }

  /** Null when the request may go on; else how long its sender should wait (rate_limited). */
  private admit(device: string | null, sender: string): number | null {
    if (device !== null) {
      const wait = this.limiter.take(device);
      if (wait !== null) return wait;
    }
    const bound = device === null ? UNATTRIBUTED_QUEUE : this.limits.deviceQueue;
    return this.executor.waiting(sender) >= bound ? QUEUE_FULL_RETRY_MS : null;
  }
}
