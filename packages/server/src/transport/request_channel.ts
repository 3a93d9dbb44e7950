/** A request as the transport received it, in MQTT terms whichever broker protocol carried it. */
export interface InboundRequest {
  topic: string;
  payload: Buffer;
  responseTopic: string | undefined;
  correlationData: Buffer | undefined;
}

/** The server's side of request/response over a broker: MQTT 5 subscriptions or an AMQP queue. */
export interface RequestChannel {
  start(onRequest: (request: InboundRequest) => void): Promise<void>;
  /** Answers a request; called exactly once per request, also for those that get no reply. */
  reply(request: InboundRequest, body: string): void;
  /** Stops new requests from arriving (the broker gives them to other replicas); replies still go out. */
  stopReceiving(): Promise<void>;
  readonly connected: boolean;
  /**
   * False once the channel is lost for good and will not come back by itself (the AMQP path does
   * not reconnect): `/healthz` then fails, so that the orchestrator restarts the replica.
   */
  readonly recoverable: boolean;
}
