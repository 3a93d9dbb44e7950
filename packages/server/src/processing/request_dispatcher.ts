import type { Logger } from 'pino';
import type { ServerMetrics } from '../ops/metrics.js';
import type { InboundRequest, RequestChannel } from '../transport/request_channel.js';
import type { BatchExecutor } from './batch_executor.js';
import { requestDigest } from './request_digest.js';
import type { Reply, RequestProtocol } from './request_protocol.js';
import { topicFilterMatcher } from './topic_filter.js';

/**
 * Takes each request from the transport to its reply: routing to the protocol whose topic filters
 * match, validation by that protocol (bad input is answered at once, without touching the
 * database), execution in a batched transaction, then the reply and any pushes, with a metric and a
 * debug log line per request.
 */
export class RequestDispatcher {
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private readonly routes: { protocol: RequestProtocol; matchers: ((levels: readonly string[]) => boolean)[] }[];

  constructor(
    private readonly protocols: readonly RequestProtocol[],
    private readonly executor: BatchExecutor,
    private readonly channel: Pick<RequestChannel, 'reply' | 'publish'>,
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
  ) {
    this.routes = protocols.map((protocol) => ({ protocol, matchers: protocol.requestFilters.map(topicFilterMatcher) }));
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
    const protocol = this.routes.find((route) => route.matchers.some((matches) => matches(levels)))?.protocol;
    if (protocol === undefined) {
      // Only reachable through a broker delivering beyond the subscriptions.
      this.channel.reply(request, JSON.stringify({ error: 'Unknown topic' }));
      this.log.warn({ topic: request.topic }, 'request on a topic no protocol serves');
      return;
    }
    const prepared = protocol.prepare(request);
    let reply: Reply;
    if ('reply' in prepared) {
      reply = prepared.reply;
    } else {
      const digest = prepared.digest !== undefined ? prepared.digest
        : requestDigest(request.topic, request.responseTopic, request.correlationData, request.payload);
      reply = await this.executor.run({
        digest, execute: prepared.execute, unavailableReply: protocol.unavailableReply, failedReply: protocol.failedReply,
      });
    }
    this.channel.reply(request, reply.body, prepared.responseTopic);
    // After the reply, which the executor released only after the commit.
    for (const push of reply.pushes ?? []) this.channel.publish(push.topic, push.body);
    const seconds = (performance.now() - started) / 1000;
    this.metrics.observeRequest(prepared.operation, reply.outcome, seconds);
    this.log.debug({ topic: request.topic, operation: prepared.operation, outcome: reply.outcome, ms: seconds * 1000 }, 'request');
  }
}
