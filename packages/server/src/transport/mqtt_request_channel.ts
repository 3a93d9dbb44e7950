import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { InboundRequest, RequestChannel } from './request_channel.js';

/**
 * The server's side of MQTT 5 request/response: receives requests (QoS 1) on the protocol's topic
 * filters and publishes each reply to the request's Response Topic with its Correlation Data.
 *
 * With a share group, the filters are subscribed as `$share/<group>/<filter>`: the broker then
 * hands each request to exactly one of the replicas subscribed in that group.
 *
 * Requests are acknowledged (PUBACK) on receipt, not after their transaction: mqtt.js reads the
 * next packet of a connection only once the previous one is acknowledged, so deferring the PUBACK
 * would process one request at a time. A request lost in a crash between PUBACK and commit gets
 * no reply and is retried by its device; a redelivered one is recognised by the executor.
 */
export class MqttRequestChannel implements RequestChannel {
  private readonly subscriptions: string[];
  private corked: NodeJS.WritableStream | null = null;
  private receiving = false;

  constructor(
    private readonly client: MqttClient,
    filters: readonly string[],
    shareGroup: string | undefined,
    private readonly log: Logger,
  ) {
    this.subscriptions = filters.map((filter) => (shareGroup ? `$share/${shareGroup}/${filter}` : filter));
  }

  async start(onRequest: (request: InboundRequest) => void): Promise<void> {
    this.client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      // The PUBACKs of a burst of requests then leave in one write.
      this.coalesceWrites();
      onRequest({
        topic,
        payload,
        responseTopic: packet.properties?.responseTopic,
        correlationData: packet.properties?.correlationData,
        userProperties: packet.properties?.userProperties ?? {},
      });
    });
    // mqtt.js subscribes again after a reconnection that found no session. One that found it
    // normally finds the subscriptions too, unless another process with this client id replaced
    // the session meanwhile: subscribing again costs one packet.
    this.client.on('connect', (connack) => {
      if (!connack.sessionPresent || !this.receiving) return;
      this.client.subscribeAsync(this.subscriptions, { qos: 1 })
        .catch((error: Error) => this.log.warn({ err: error }, 'subscribing again after a reconnection failed'));
    });
    await this.client.subscribeAsync(this.subscriptions, { qos: 1 });
    this.receiving = true;
    this.log.info({ subscriptions: this.subscriptions }, 'subscribed to requests');
  }

  /** Publishes a reply; requests without a Response Topic get none, as v1 specifies. */
  reply(request: InboundRequest, body: string, topic?: string | null): void {
    const responseTopic = topic === undefined ? request.responseTopic : topic ?? undefined;
    if (responseTopic === undefined) return;
    this.coalesceWrites();
    this.client.publish(responseTopic, body, {
      qos: 1,
      properties: {
        ...(request.correlationData ? { correlationData: request.correlationData } : {}),
        payloadFormatIndicator: true,
        contentType: 'application/json',
      },
    }, (error) => {
      if (error) this.log.warn({ err: error, topic: responseTopic }, 'reply not published');
    });
  }

  publish(topic: string, body: string): void {
    this.coalesceWrites();
    this.client.publish(topic, body, {
      qos: 1,
      properties: { payloadFormatIndicator: true, contentType: 'application/json' },
    }, (error) => {
      if (error) this.log.warn({ err: error, topic }, 'push not published');
    });
  }

  /**
   * Holds the connection's writes until the end of this turn of the event loop, so that the
   * packets written meanwhile (a batch's replies, a burst's PUBACKs) go out in one system call
   * and, over TLS, in one record: each write costs about as much as the packet work itself.
   */
  private coalesceWrites(): void {
    const stream = this.client.stream as unknown as NodeJS.WritableStream & { cork?: () => void; uncork?: () => void };
    if (this.corked === stream || !stream?.cork) return;
    stream.cork();
    this.corked = stream;
    setImmediate(() => {
      this.corked = null;
      stream.uncork!();
    });
  }

  async stopReceiving(): Promise<void> {
    this.receiving = false;
    if (this.client.connected) await this.client.unsubscribeAsync(this.subscriptions);
  }

  /** mqtt.js reconnects and resubscribes by itself. */
  get connected(): boolean {
    return this.client.connected;
  }
}
