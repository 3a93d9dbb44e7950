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
  /**
   * amqps://[user:password@]host:5671/vhost (TLS 1.3) or amqp://...: one per node of a cluster,
   * tried in turn at every (re)connection, starting after the node last connected to.
   */
  urls: readonly string[];
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  /** Durable quorum queue the replicas consume together. */
  queue: string;
  /** Unacknowledged requests per replica: what the group commit has to batch. */
  prefetch: number;
}

/** One connection to the broker with its confirm channel; a lost one is replaced by a new one. */
interface Link {
  connection: ChannelModel;
  channel: ConfirmChannel;
  consumerTag?: string;
  /** False once lost or given up: its deliveries can no longer be acknowledged. */
  open: boolean;
}

/**
 * Waits before reconnecting: doubled after every failed attempt, up to the longest. A retry library
 * (p-retry) is not used: the loop must also stop when the channel is closed between attempts and
 * hand the new link over, which would wrap these few lines rather than replace them.
 */
const RECONNECT_FIRST_MS = 500;
const RECONNECT_LONGEST_MS = 30_000;
const nextWait = (wait: number) => Math.min(2 * wait, RECONNECT_LONGEST_MS);

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
 *
 * A lost connection, channel or consumer is replaced: the replica reconnects, declares its queue
 * and bindings again and consumes on. Requests delivered on the lost channel cannot be
 * acknowledged on another one; RabbitMQ delivers them again, and they are answered from their
 * records.
 */
export class AmqpRequestChannel implements RequestChannel {
  private readonly deliveries = new WeakMap<InboundRequest, { message: ConsumeMessage; link: Link }>();
  private onRequest: ((request: InboundRequest) => void) | undefined;
  /** Null while reconnecting. */
  private link: Link | null;
  private started = false;
  private receiving = true;
  private closed = false;
  /** Index in options.urls of the node to try first at the next connection. */
  private nextNode = 0;

  private constructor(
    link: Link,
    private readonly bindings: readonly string[],
    private readonly options: AmqpChannelOptions,
    private readonly log: Logger,
  ) {
    this.link = link;
    this.watch(link);
  }

  /** At start a broker that cannot be reached, or refuses the login, is an error (the server exits saying why). */
  static async connect(options: AmqpChannelOptions, filters: readonly string[], log: Logger): Promise<AmqpRequestChannel> {
    const { link, node } = await openLinkToAnyNode(options, 0, log);
    const channel = new AmqpRequestChannel(link, filters.map(mqttToRoutingKey), options, log);
    channel.nextNode = node + 1;
    return channel;
  }

  private watch(link: Link): void {
    link.connection.on('error', (error: Error) => this.log.error({ err: error }, 'AMQP connection error'));
    // The broker closes the channel on a refused operation (e.g. a binding its permissions deny).
    link.channel.on('error', (error: Error) => this.log.error({ err: error }, 'AMQP channel error'));
    link.connection.on('close', () => this.lost(link, 'AMQP connection closed'));
    link.channel.on('close', () => this.lost(link, 'AMQP channel closed'));
  }

  /**
   * Without its channel a replica can neither answer nor acknowledge: it closes the connection so
   * that RabbitMQ hands its unacknowledged requests to the other replicas, reports not ready and
   * reconnects.
   */
  private lost(link: Link, reason: string): void {
    if (!link.open) return;
    discard(link);
    // A link still being set up is the reconnection attempt's to give up.
    if (this.link !== link) return;
    this.link = null;
    if (this.closed || !this.started) return;
    this.log.error(`${reason}: not ready, reconnecting; the unacknowledged requests go to other replicas`);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 1, wait = RECONNECT_FIRST_MS; !this.closed; attempt += 1, wait = nextWait(wait)) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.closed) return;
      let link: Link | undefined;
      try {
        const opened = await openLinkToAnyNode(this.options, this.nextNode, this.log);
        link = opened.link;
        // A node that was lost is tried last next time.
        this.nextNode = opened.node + 1;
        this.watch(link);
        if (this.receiving) await this.consume(link);
        if (!link.open) throw new Error('AMQP connection lost while consuming');
      } catch (error) {
        if (link) discard(link);
        this.log.warn({ err: error, attempt, retryInMs: nextWait(wait) }, 'AMQP reconnection failed');
        continue;
      }
      if (this.closed) {
        discard(link);
        return;
      }
      this.link = link;
      this.log.info({ attempt }, 'AMQP reconnected: ready');
      return;
    }
  }

  async start(onRequest: (request: InboundRequest) => void): Promise<void> {
    this.onRequest = onRequest;
    if (this.link === null) throw new Error('AMQP connection lost before consuming');
    await this.consume(this.link);
    this.started = true;
    const { queue, prefetch } = this.options;
    this.log.info({ queue, bindings: this.bindings, prefetch }, 'consuming requests');
  }

  /** Declares the queue and its bindings (idempotent: also after the queue was deleted) and consumes it. */
  private async consume(link: Link): Promise<void> {
    const { queue, prefetch } = this.options;
    const { channel } = link;
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (const key of this.bindings) await channel.bindQueue(queue, MQTT_EXCHANGE, key);
    await channel.prefetch(prefetch);
    const { consumerTag } = await channel.consume(queue, (message) => {
      if (message === null) return this.lost(link, 'request consumer cancelled by the broker (queue deleted?)');
      const request = toInboundRequest(message);
      this.deliveries.set(request, { message, link });
      this.onRequest!(request);
    });
    link.consumerTag = consumerTag;
  }

  reply(request: InboundRequest, body: string, topic?: string | null): void {
    const responseTopic = topic === undefined ? request.responseTopic : topic ?? undefined;
    const { message, link } = this.deliveries.get(request)!;
    // Once its channel is gone, the broker gives the request to a replica again.
    if (!link.open) return;
    const { channel } = link;
    const ack = () => { if (link.open) channel.ack(message); };
    if (responseTopic === undefined) {
      ack();
      return;
    }
    const { correlationId, headers } = message.properties;
    const binaryCorrelation = correlationId === undefined ? headers?.['x-correlation-id'] as Buffer | undefined : undefined;
    channel.publish(MQTT_EXCHANGE, mqttToRoutingKey(responseTopic), Buffer.from(body), {
      persistent: true,
      contentType: 'application/json',
      ...(correlationId !== undefined ? { correlationId } : {}),
      ...(binaryCorrelation !== undefined ? { headers: { 'x-correlation-id': binaryCorrelation } } : {}),
    }, (error) => {
      if (!error) return ack();
      // Requeued, the request is answered again from its recorded reply.
      this.log.warn({ err: error, topic: responseTopic }, 'reply not confirmed; request requeued');
      if (link.open) channel.nack(message, false, true);
    });
  }

  /**
   * A push is published after its request's commit but does not hold up the request's
   * acknowledgement: pushes are hints, the mailbox stays authoritative (while reconnecting, they
   * are dropped).
   */
  publish(topic: string, body: string): void {
    if (this.link === null) return;
    this.link.channel.publish(MQTT_EXCHANGE, mqttToRoutingKey(topic), Buffer.from(body), {
      persistent: true,
      contentType: 'application/json',
    }, (error) => {
      if (error) this.log.warn({ err: error, topic }, 'push not confirmed');
    });
  }

  async stopReceiving(): Promise<void> {
    this.receiving = false;
    const link = this.link;
    if (link?.consumerTag !== undefined) await link.channel.cancel(link.consumerTag);
  }

  get connected(): boolean {
    return this.link !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    const link = this.link;
    this.link = null;
    if (link === null || !link.open) return;
    link.open = false;
    await link.connection.close();
  }
}

/** Gives a link up: its deliveries are no longer acknowledged, and closing it returns them to the queue. */
function discard(link: Link): void {
  link.open = false;
  link.connection.close().catch(() => undefined);
}

/**
 * Connects to the first node that answers, trying each in turn from `first`: returns the link and
 * the node's index. With one node its error is thrown as it came; with several, all of them.
 */
async function openLinkToAnyNode(options: AmqpChannelOptions, first: number, log: Logger): Promise<{ link: Link; node: number }> {
  const errors: Error[] = [];
  for (let i = 0; i < options.urls.length; i += 1) {
    const node = (first + i) % options.urls.length;
    try {
      const link = await openLink(options.urls[node]!, options);
      if (options.urls.length > 1) log.info({ node: hostOf(options.urls[node]!) }, 'AMQP connected to cluster node');
      return { link, node };
    } catch (error) {
      errors.push(error as Error);
    }
  }
  if (errors.length === 1) throw errors[0];
  throw new AggregateError(errors, `no AMQP node reachable: ${errors.map((error, i) =>
    `${hostOf(options.urls[(first + i) % options.urls.length]!)}: ${error.message}`).join('; ')}`);
}

const hostOf = (url: string): string => new URL(url).host;

/** Connects and opens a confirm channel, or fails without leaving a connection open. */
async function openLink(url: string, options: AmqpChannelOptions): Promise<Link> {
  // Without a user in the URL, a client certificate logs in by its CN (x.509, SASL EXTERNAL).
  const external = new URL(url).username === '' && options.cert !== undefined;
  const connection = await amqp.connect(url, {
    ...(external ? { credentials: amqp.credentials.external() } : {}),
    ca: options.ca, cert: options.cert, key: options.key,
    minVersion: 'TLSv1.3',
    // Replies and acknowledgements written in one event-loop turn leave in one segment.
    noDelay: true,
  });
  try {
    return { connection, channel: await connection.createConfirmChannel(), open: true };
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
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
