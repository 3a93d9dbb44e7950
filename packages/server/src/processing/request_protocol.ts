import type { Sql } from '../storage/database.js';
import type { InboundRequest } from '../transport/request_channel.js';

/**
 * How a request ended, for metrics and logs: ok; refused by the domain (unknown user, empty
 * inbox...); invalid input; replayed from the record of an earlier delivery; database unavailable;
 * failed on an unexpected error; limited: refused unread by its sender's request limits.
 */
export type Outcome = 'ok' | 'refused' | 'invalid' | 'replayed' | 'unavailable' | 'failed' | 'limited';

/** A notice to publish once the request's transaction has committed (QoS 1). */
export interface Push {
  topic: string;
  body: string;
}

export interface Reply {
  /** The response payload, published to the request's Response Topic. */
  body: string;
  outcome: Outcome;
  /** Published after the commit, never for a reply replayed from the record. */
  pushes?: readonly Push[];
  /**
   * Not recorded for redeliveries: the request changed nothing and running it again gives the same
   * answer (e.g. a refused signature), so that a forged copy cannot fix the answer of a genuine one.
   */
  unrecorded?: boolean;
}

interface PreparedCommon {
  operation: string;
  /**
   * Where the reply goes instead of the request's Response Topic (v2 fixes it per device); null
   * when the request cannot be answered anywhere.
   */
  responseTopic?: string | null;
}

/** A validated request, ready to run inside a transaction; or a reply needing no database (bad input). */
export type PreparedRequest =
  | PreparedCommon & { reply: Reply }
  | PreparedCommon & {
    execute: (sql: Sql) => Promise<Reply>;
    /**
     * Identifies the request, and its requester, across redeliveries for exactly-once processing;
     * when absent, the dispatcher derives it from topic, Response Topic, Correlation Data and
     * payload (requestDigest). Null: never deduplicated.
     */
    digest?: string | null;
  };

/**
 * A wire protocol served by the key server: the topics it listens on, how it turns a request into
 * domain calls, and how it words the replies for failures that happen outside any one request.
 */
export interface RequestProtocol {
  /** MQTT topic filters carrying this protocol's requests. */
  readonly requestFilters: readonly string[];
  prepare(request: InboundRequest): PreparedRequest;
  /**
   * The device that sent the request, for the per-device request limits and fair scheduling, read
   * from the topic alone (the broker lets a device publish under its own name only); null when
   * the protocol cannot tell its devices apart (v1), whose requests then count as one sender.
   */
  requester(request: InboundRequest): string | null;
  /** The answer to a request refused unread by its sender's request limits: try again after `retryAfterMs`. */
  rateLimited(request: InboundRequest, retryAfterMs: number): PreparedRequest & { reply: Reply };
  /** Reply while the database cannot be reached: the client should retry later. */
  readonly unavailableReply: Reply;
  /** Reply for an unexpected failure; its details go to the log, not to the client. */
  readonly failedReply: Reply;
}
