import type { Logger } from 'pino';
import type { ServerMetrics } from '../ops/metrics.js';
import type { InboundRequest } from '../transport/request_channel.js';
import type { BatchExecutor } from './batch_executor.js';
import { requestDigest } from './request_digest.js';
import type { Reply, RequestProtocol } from './request_protocol.js';

/**
 * Takes each request from the transport to its reply: validation by the protocol (bad input is
 * answered at once, without touching the database), execution in a batched transaction, then the
 * reply, with a metric and a debug log line per request.
 */
export class RequestDispatcher {
  private inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly protocol: RequestProtocol,
    private readonly executor: BatchExecutor,
    private readonly sendReply: (request: InboundRequest, body: string) => void,
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
  ) {}

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
    const prepared = this.protocol.prepare(request.topic, request.payload);
    let reply: Reply;
    if ('reply' in prepared) {
      reply = prepared.reply;
    } else {
      const digest = requestDigest(request.topic, request.correlationData, request.payload);
      reply = await this.executor.run({ digest, execute: prepared.execute });
    }
    this.sendReply(request, reply.body);
    const seconds = (performance.now() - started) / 1000;
    this.metrics.observeRequest(prepared.operation, reply.outcome, seconds);
    this.log.debug({ topic: request.topic, operation: prepared.operation, outcome: reply.outcome, ms: seconds * 1000 }, 'request');
  }
}
