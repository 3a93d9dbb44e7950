import { randomBytes } from 'node:crypto';
import { connectMqtt } from '@x3dh-iot/transport';
import type { MqttClient } from 'mqtt';
import type { RequestLink } from './failover_load.js';

/** A RequestLink over MQTT 5: QoS 1 requests with Response Topic and Correlation Data, replies on its own topic. */
export async function openMqttLink(url: string): Promise<RequestLink & { close(): Promise<void> }> {
  const responseTopic = `x3dh/resp/load-${randomBytes(4).toString('hex')}`;
  const client: MqttClient = await connectMqtt({ url, clean: true });
  client.on('error', () => {});
  let handler: (correlation: string, reply: unknown) => void = () => {};
  client.on('message', (_topic, payload, packet) => {
    const correlation = packet.properties?.correlationData;
    if (correlation) handler(correlation.toString('utf8'), JSON.parse(payload.toString('utf8')));
  });
  await client.subscribeAsync(responseTopic, { qos: 1 });
  return {
    send: async (topic, payload, correlation) => {
      await client.publishAsync(topic, payload, { qos: 1, properties: { responseTopic, correlationData: Buffer.from(correlation) } });
    },
    onReply: (next) => { handler = next; },
    close: () => client.endAsync(),
  };
}
