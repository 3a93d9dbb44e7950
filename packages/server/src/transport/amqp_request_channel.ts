import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { InboundRequest, RequestChannel, UserProperties } from './request_channel.js';

/** The exchange RabbitMQ's MQTT plugin publishes to and delivers from. */
const MQTT_EXCHANGE = 'amq.topic';

/**
 * RabbitMQ's MQTT topic <-> routing key mapping: the level separators `/` and `.` trade places
 * (so a `.` inside an MQTT level survives the round trip) and the one-level wildcard `+` is `*`.
 */
export const mqttToRoutingKey = (topic: string): string =>
  topic.replace(/[/.+]/g, (c) => (c === '/' ? '.' : c === '.' ? '/' : '*'));
export const routingKeyToMqtt = (key: string): string =>
  key.replace(/[/.]/g, (c) => (c === '.' ? '/' : '.'));

export interface AmqpChannelOptions {
  /** amqps://[user:password@]host:5671/vhost (TLS 1.3) or amqp://... */
  url: string;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  /** Durable quorum queue the replicas consume together. */
  queue: string;
  /** Unacknowledged requests per replica: what the group commit has to batch. */
  prefetch: number;
}

/**
 * The server's side of request/response on RabbitMQ, which has no MQTT shared subscriptions: the
 * replicas are competing consumers of one durable quorum queue bound to the MQTT exchange for the
 * protocol's request topics. RabbitMQ (4.x) turns an MQTT 5 request's Response Topic into the
 * header `x-reply-to-topic` (as a routing key) and its Correlation Data into `correlation_id`
 * (valid UTF-8) or the binary header `x-correlation-id`; the reply mirrors that, so RabbitMQ turns
 * it back into an MQTT 5 message with the same Correlation Data.
 *
 * A delivery is acknowledged only once its reply is confirmed by the broker, and replies are sent
 * only after the request's transaction committed: a replica that dies loses nothing, as RabbitMQ
 * gives its unacknowledged requests to another replica, whose executor replays the recorded reply
 * of any request that had already committed.
 */
export class AmqpRequestChannel implements RequestChannel {
  private readonly deliveries = new WeakMap<InboundRequest, ConsumeMessage>();
  private consumerTag: string | undefined;
  private open = true;

  private constructor(
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly bindings: readonly string[],
    private readonly options: AmqpChannelOptions,
    private readonly log: Logger,
  ) {
    connection.on('error', (error: Error) => log.error({ err: error }, 'AMQP connection error'));
    // The broker closes the channel on a refused operation (e.g. a binding its permissions deny).
    channel.on('error', (error: Error) => log.error({ err: error }, 'AMQP channel error'));
    connection.on('close', () => this.lost('AMQP connection closed'));
    channel.on('close', () => this.lost('AMQP channel closed'));
  }

  /**
   * Without its channel a replica can neither answer nor acknowledge: it closes the connection so
   * that RabbitMQ hands its unacknowledged requests to the other replicas, and reports not ready.
   */
  private lost(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.log.error(`${reason}: not ready; the unacknowledged requests go to other replicas`);
    this.connection.close().catch(() => undefined);
  }

  static async connect(options: AmqpChannelOptions, filters: readonly string[], log: Logger): Promise<AmqpRequestChannel> {
    // Without a user in the URL, a client certificate logs in by its CN (x.509, SASL EXTERNAL).
    const external = new URL(options.url).username === '' && options.cert !== undefined;
    const connection = await amqp.connect(options.url, {
      ...(external ? { credentials: amqp.credentials.external() } : {}),
      ca: options.ca, cert: options.cert, key: options.key,
      minVersion: 'TLSv1.3',
      // Replies and acknowledgements written in one event-loop turn leave in one segment.
      noDelay: true,
    });
    try {
      const channel = await connection.createConfirmChannel();
      return new AmqpRequestChannel(connection, channel, filters.map(mqttToRoutingKey), options, log);
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  async start(onRequest: (request: InboundRequest) => void): Promise<void> {
    const { queue, prefetch } = this.options;
    await this.channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (const key of this.bindings) await this.channel.bindQueue(queue, MQTT_EXCHANGE, key);
    await this.channel.prefetch(prefetch);
    const { consumerTag } = await this.channel.consume(queue, (message) => {
      if (message === null) return this.lost('request consumer cancelled by the broker (queue deleted?)');
      const request = toInboundRequest(message);
      this.deliveries.set(request, message);
      onRequest(request);
    });
    this.consumerTag = consumerTag;
    this.log.info({ queue, bindings: this.bindings, prefetch }, 'consuming requests');
  }

  reply(request: InboundRequest, body: string, topic?: string | null): void {
    const responseTopic = topic === undefined ? request.responseTopic : topic ?? undefined;
    // Once the channel is gone, the broker gives the request to another replica.
    if (!this.open) return;
    const message = this.deliveries.get(request)!;
    const ack = () => { if (this.open) this.channel.ack(message); };
    if (responseTopic === undefined) {
      ack();
      return;
    }
    const { correlationId, headers } = message.properties;
    const binaryCorrelation = correlationId === undefined ? headers?.['x-correlation-id'] as Buffer | undefined : undefined;
    this.channel.publish(MQTT_EXCHANGE, mqttToRoutingKey(responseTopic), Buffer.from(body), {
      persistent: true,
      contentType: 'application/json',
      ...(correlationId !== undefined ? { correlationId } : {}),
      ...(binaryCorrelation !== undefined ? { headers: { 'x-correlation-id': binaryCorrelation } } : {}),
    }, (error) => {
      if (!error) return ack();
      // Requeued, the request is answered again from its recorded reply.
      this.log.warn({ err: error, topic: responseTopic }, 'reply not confirmed; request requeued');
      if (this.open) this.channel.nack(message, false, true);
    });
  }

  /**
   * A push is published after its request's commit but does not hold up the request's
   * acknowledgement: pushes are hints, the mailbox stays authoritative.
   */
  publish(topic: string, body: string): void {
    if (!this.open) return;
    this.channel.publish(MQTT_EXCHANGE, mqttToRoutingKey(topic), Buffer.from(body), {
      persistent: true,
      contentType: 'application/json',
    }, (error) => {
      if (error) this.log.warn({ err: error, topic }, 'push not confirmed');
    });
  }

  async stopReceiving(): Promise<void> {
    if (this.open && this.consumerTag !== undefined) await this.channel.cancel(this.consumerTag);
  }

  get connected(): boolean {
    return this.open;
  }

  get recoverable(): boolean {
    return this.open;
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.connection.close();
  }
}

function toInboundRequest(message: ConsumeMessage): InboundRequest {
  const { correlationId, headers } = message.properties;
  const replyTo = headers?.['x-reply-to-topic'] as string | Buffer | undefined;
  const binaryCorrelation = headers?.['x-correlation-id'] as Buffer | undefined;
  return {
    topic: routingKeyToMqtt(message.fields.routingKey),
    payload: message.content,
    responseTopic: replyTo === undefined ? undefined : routingKeyToMqtt(replyTo.toString()),
    correlationData: correlationId !== undefined ? Buffer.from(String(correlationId), 'utf8') : binaryCorrelation,
    userProperties: userPropertiesOf(headers),
  };
}

/**
 * RabbitMQ turns MQTT 5 user properties into headers of the same names. Its own headers (`x-...`)
 * are not user properties; text and byte-string values pass as text, anything else is not one.
 */
function userPropertiesOf(headers: Record<string, unknown> | undefined): UserProperties {
  const properties: UserProperties = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.startsWith('x-')) continue;
    const text = (item: unknown) => (typeof item === 'string' ? item : Buffer.isBuffer(item) ? item.toString('utf8') : undefined);
    if (Array.isArray(value)) {
      const items = value.map(text).filter((item): item is string => item !== undefined);
      if (items.length > 0) properties[name] = items;
    } else if (text(value) !== undefined) {
      properties[name] = text(value)!;
    }
  }
  return properties;
}
