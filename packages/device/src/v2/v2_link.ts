/** One v2 request as it goes on the wire (docs/protocol-v2.md section 3). */
export interface V2WireRequest {
  topic: string;
  payload: Buffer;
  responseTopic: string;
  /** The request id. */
  correlationData: Buffer;
  userProperties: Record<string, string>;
  timeoutMs: number;
}

/**
 * What a v2 device needs from the broker for its own name: requests answered on its response
 * topic, and the pushes of its push topic. `MqttV2Link` is the MQTT one; tests use in-process fakes.
 * A request that gets no answer in time rejects with the transport's RequestTimeoutError.
 */
export interface V2Link {
  request(request: V2WireRequest): Promise<{ payload: Buffer }>;
  /** Every push payload, and a call after each (re)connection, when missed pushes call for a mailbox fetch. */
  listen(listener: V2LinkListener): void;
  close(): Promise<void>;
}

export interface V2LinkListener {
  push(payload: Buffer): void;
  connected(): void;
}

/** Opens the link of one device name (on first use, so local-only steps need no broker). */
export type V2LinkFactory = (device: string) => V2Link;
