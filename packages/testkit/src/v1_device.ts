import { connectMqtt, MqttRequester } from '@x3dh-iot/transport';
import { wireV1 } from '@x3dh-iot/protocol';

export interface V1DeviceOptions {
  /** PEM CA of the broker (TLS brokers). */
  ca?: string | Buffer | undefined;
  clientId?: string;
  timeoutMs?: number;
}

/**
 * A connection that requests like an original v1 device: QoS 1 with Response Topic `x3dh/resp/me`
 * (shared by every device), a random 32-bit decimal Correlation Data, subscribed to `x3dh/resp/#`.
 */
export async function connectV1Device(brokerUrl: string, options: V1DeviceOptions = {}): Promise<MqttRequester> {
  const client = await connectMqtt({ url: brokerUrl, ca: options.ca, clientId: options.clientId });
  // A broker going away (as tests make it do) is an 'error' event; unhandled, it would end the process.
  // The client reconnects by itself and requests meanwhile time out.
  client.on('error', () => {});
  try {
    return await MqttRequester.start(client, {
      responseTopic: wireV1.V1_TOPICS.response,
      responseFilter: wireV1.V1_TOPICS.responseFilter,
      timeoutMs: options.timeoutMs ?? 10_000,
    });
  } catch (error) {
    // E.g. a broker refusing the v1 subscription: the connection must not outlive the failure.
    await client.endAsync(true);
    throw error;
  }
}

/** Sends a v1 request and returns the parsed JSON reply. */
export async function requestJson(device: MqttRequester, topic: string, payload: unknown = {}): Promise<unknown> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const response = await device.request(topic, body);
  return JSON.parse(response.payload.toString('utf8'));
}

/** Closes the requester and its MQTT connection. */
export async function closeV1Device(device: MqttRequester): Promise<void> {
  device.close();
  await device.client.endAsync();
}
