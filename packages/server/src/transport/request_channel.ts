/** MQTT 5 user properties as mqtt.js gives them: a name may repeat, then its values come as an array. */
export type UserProperties = Record<string, string | string[]>;

/** A request as the transport received it, in MQTT terms whichever broker protocol carried it. */
export interface InboundRequest {
  topic: string;
  payload: Buffer;
  responseTopic: string | undefined;
  correlationData: Buffer | undefined;
  /** MQTT 5 user properties (on AMQP: the message headers RabbitMQ made of them); empty when none. */
  userProperties: UserProperties;
}

/** The server's side of request/response over a broker: MQTT 5 subscriptions or an AMQP queue. */
export interface RequestChannel {
  start(onRequest: (request: InboundRequest) => void): Promise<void>;
  /**
   * Answers a request; called exactly once per request, also for those that get no reply. The reply
   * goes to `responseTopic` when given (a protocol that fixes its response topics; null: nowhere),
   * else to the request's Response Topic.
   */
  reply(request: InboundRequest, body: string, responseTopic?: string | null): void;
  /** Publishes a notice that answers no request (QoS 1), e.g. a push once a transaction committed. */
  publish(topic: string, body: string): void;
  /** Stops new requests from arriving (the broker gives them to other replicas); replies still go out. */
  stopReceiving(): Promise<void>;
  /** False while the channel reconnects (both transports do so by themselves). */
  readonly connected: boolean;
}
