import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { RequestLink } from './failover_load.js';

/**
 * A RequestLink through a RabbitMQ cluster, publishing each request as RabbitMQ 4.x converts an
 * MQTT 5 request (see Rabbit4Requester). Replies collect in a durable quorum queue of its own, so
 * that they survive the loss of any one node; a lost connection is replaced by one to the next
 * node, and sends fail meanwhile (the load retries them).
 */
export async function openAmqpLink(urls: readonly string[]): Promise<RequestLink & { close(): Promise<void>; events: string[] }> {
  const responseKey = `x3dh.resp.load-${randomBytes(4).toString('hex')}`;
  const replyQueue = `load-replies-${randomBytes(4).toString('hex')}`;
  let handler: (correlation: string, reply: unknown) => void = () => {};
  let current: { connection: ChannelModel; channel: ConfirmChannel } | null = null;
  let next = 0;
  let closed = false;
  /** Connections made and lost, failed attempts: what a stalled load was doing. */
  const events: string[] = [];

  const connect = async (): Promise<void> => {
    for (let attempt = 0; !closed; attempt += 1) {
      const url = urls[next % urls.length]!;
      next += 1;
      try {
        const connection = await amqp.connect(url);
        connection.on('error', () => {});
        const channel = await connection.createConfirmChannel();
        channel.on('error', () => {});
        await channel.assertQueue(replyQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        await channel.bindQueue(replyQueue, 'amq.topic', responseKey);
        await channel.consume(replyQueue, (message) => {
          if (message === null) return;
          channel.ack(message);
          handler(String(message.properties.correlationId), JSON.parse(message.content.toString('utf8')));
        });
        const link = { connection, channel };
        connection.on('close', () => {
          if (current !== link) return;
          events.push(`${new Date().toISOString()} connection to ${new URL(url).host} lost`);
          current = null;
          if (!closed) void connect();
        });
        current = link;
        events.push(`${new Date().toISOString()} connected to ${new URL(url).host}`);
        return;
      } catch (error) {
        events.push(`${new Date().toISOString()} ${new URL(url).host}: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 200 * (attempt + 1))));
      }
    }
  };
  await connect();

  return {
    send: (topic, payload, correlation) => new Promise<void>((resolve, reject) => {
      if (current === null) return reject(new Error('not connected'));
      current.channel.publish('amq.topic', topic.replaceAll('/', '.'), Buffer.from(payload), {
        persistent: true, correlationId: correlation, headers: { 'x-reply-to-topic': responseKey },
      }, (error: unknown) => (error ? reject(error as Error) : resolve()));
    }),
    onReply: (nextHandler) => { handler = nextHandler; },
    events,
    close: async () => {
      closed = true;
      await current?.connection.close().catch(() => {});
    },
  };
}
