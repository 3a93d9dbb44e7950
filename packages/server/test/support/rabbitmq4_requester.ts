import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';

export interface Reply {
  routingKey: string;
  /** The correlation as the reply carried it: `correlation_id` or the `x-correlation-id` header. */
  correlation: { utf8: string } | { binary: Buffer };
  contentType: string | undefined;
  json: unknown;
}

/**
 * A device as the key server sees it through RabbitMQ 4.x: each request is published to amq.topic
 * exactly as RabbitMQ converts an MQTT 5 PUBLISH (QoS 1) to AMQP 0.9.1 (topic `/` -> `.` as the
 * routing key, persistent, Response Topic -> header `x-reply-to-topic`, Correlation Data ->
 * `correlation_id` when valid UTF-8, else binary header `x-correlation-id`). Replies are read from
 * a queue bound to amq.topic with the response topic's routing key, as RabbitMQ would route them to
 * the MQTT subscriber of that topic.
 */
export class Rabbit4Requester {
  /** Every reply received, per correlation (hex of its bytes). */
  readonly replies = new Map<string, Reply[]>();
  private readonly waiting = new Map<string, (reply: Reply) => void>();

  private constructor(private readonly connection: ChannelModel, private readonly channel: ConfirmChannel,
    readonly responseTopic: string) {}

  static async open(url: string, responseTopic: string): Promise<Rabbit4Requester> {
    const connection = await amqp.connect(url);
    const channel = await connection.createConfirmChannel();
    const requester = new Rabbit4Requester(connection, channel, responseTopic);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, 'amq.topic', responseTopic.replaceAll('/', '.'));
    await channel.consume(queue, (message) => requester.receive(message!), { noAck: true });
    return requester;
  }

  /** Publishes a request as RabbitMQ 4.x would; resolves with its first reply. */
  async request(topic: string, payload: string, options: { binaryCorrelation?: boolean } = {}): Promise<Reply> {
    const correlation = options.binaryCorrelation ? Buffer.from([0xff, 0x00, ...randomBytes(8)]) : randomBytes(8).toString('hex');
    const key = Buffer.from(correlation).toString('hex');
    const replied = new Promise<Reply>((resolve) => this.waiting.set(key, resolve));
    this.channel.publish('amq.topic', topic.replaceAll('/', '.'), Buffer.from(payload), {
      persistent: true,
      ...(typeof correlation === 'string' ? { correlationId: correlation } : {}),
      headers: {
        'x-reply-to-topic': this.responseTopic.replaceAll('/', '.'),
        ...(typeof correlation === 'string' ? {} : { 'x-correlation-id': correlation }),
      },
    });
    await this.channel.waitForConfirms();
    return replied;
  }

  private receive(message: ConsumeMessage): void {
    const { correlationId, headers, contentType } = message.properties;
    const binary = headers?.['x-correlation-id'] as Buffer | undefined;
    const reply: Reply = {
      routingKey: message.fields.routingKey,
      correlation: correlationId !== undefined ? { utf8: String(correlationId) } : { binary: binary! },
      contentType: contentType as string | undefined,
      json: JSON.parse(message.content.toString('utf8')),
    };
    const key = ('utf8' in reply.correlation ? Buffer.from(reply.correlation.utf8) : reply.correlation.binary).toString('hex');
    this.replies.set(key, [...(this.replies.get(key) ?? []), reply]);
    this.waiting.get(key)?.(reply);
    this.waiting.delete(key);
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
