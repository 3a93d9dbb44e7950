import { wireV1 } from '@x3dh-iot/protocol';
import { connectMqtt, MqttRequester } from '@x3dh-iot/transport';
import type { ConnectionSettings } from './connection_settings.js';
import { LazyBrokerConnection, refusedPublish, type BrokerClientOpener, type MqttClient } from './lazy_broker_connection.js';
import { describeConnectionFailure, loadTlsFiles } from './tls_files.js';
import type { Requester } from './v1_client.js';

export { LazyBrokerConnection, refusedPublish, type MqttClient } from './lazy_broker_connection.js';

/** Connects with the settings' TLS files (read at every call, so a renewed certificate is taken). */
export function settingsOpener(settings: ConnectionSettings): BrokerClientOpener {
  return async (clientId) => {
    const { ca, cert, key } = await loadTlsFiles(settings);
    try {
      return await connectMqtt({ url: settings.brokerUrl, clientId, ca, cert, key, connectTimeoutMs: settings.timeoutMs });
    } catch (error) {
      throw describeConnectionFailure(error as Error, settings);
    }
  };
}

/**
 * The MQTT side of a v1 device. Responses arrive on the topic every v1 device shares,
 * `x3dh/resp/me`, under the filter `x3dh/resp/#`, as the firmware subscribes.
 */
export class BrokerConnection extends LazyBrokerConnection implements Requester {
  constructor(readonly settings: ConnectionSettings) {
    super(settingsOpener(settings), settings.timeoutMs);
  }

  async request(topic: string, payload: string | Buffer, timeoutMs?: number): Promise<{ payload: Buffer }> {
    const { requester } = await this.connect();
    try {
      return await requester.request(topic, payload, timeoutMs);
    } catch (error) {
      throw refusedPublish(error, 'one the broker allows for v1 topics') ?? error;
    }
  }

  protected attach(client: MqttClient): Promise<MqttRequester> {
    return MqttRequester.start(client, {
      responseTopic: wireV1.V1_TOPICS.response,
      responseFilter: wireV1.V1_TOPICS.responseFilter,
      timeoutMs: this.settings.timeoutMs,
    });
  }
}
