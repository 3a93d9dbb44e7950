import type { Sql } from '../storage/database.js';

/**
 * How a request ended, for metrics and logs: ok; refused by the domain (unknown user, empty
 * inbox...); invalid input; replayed from the record of an earlier delivery; database unavailable;
 * failed on an unexpected error.
 */
export type Outcome = 'ok' | 'refused' | 'invalid' | 'replayed' | 'unavailable' | 'failed';

export interface Reply {
  /** The response payload, published to the request's Response Topic. */
  body: string;
  outcome: Outcome;
}

/** A validated request, ready to run inside a transaction; or a reply needing no database (bad input). */
export type PreparedRequest =
  | { operation: string; reply: Reply }
  | { operation: string; execute: (sql: Sql) => Promise<Reply> };

/**
 * A wire protocol served by the key server: the topics it listens on, how it turns a request into
 * domain calls, and how it words the replies for failures that happen outside any one request.
 */
export interface RequestProtocol {
  /** MQTT topic filters carrying this protocol's requests. */
  readonly requestFilters: readonly string[];
  prepare(topic: string, payload: Buffer): PreparedRequest;
  /** Reply while the database cannot be reached: the client should retry later. */
  readonly unavailableReply: Reply;
  /** Reply for an unexpected failure; its details go to the log, not to the client. */
  readonly failedReply: Reply;
}
