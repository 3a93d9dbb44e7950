// mqtt.js's browser bundle has a default export only.
import mqtt, { type MqttClient } from 'mqtt';
import { awaitConnack, MqttConnectError, mqttClientOptions, type MqttClientSettings } from './mqtt_client_settings.js';
import { isWebSocketUrl } from './websocket_url.js';

/**
 * A browser's MQTT connection: WebSocket only (`wss://`, or `ws://` to a loopback broker). The
 * browser does the TLS, with the CA certificates and the client certificate it has installed.
 */
export function connectMqtt(settings: MqttClientSettings): Promise<MqttClient> {
  if (!isWebSocketUrl(settings.url)) {
    return Promise.reject(new MqttConnectError(`a browser reaches brokers over WebSocket only: ${settings.url} is not a wss:// or ws:// URL`));
  }
  // Native timers: the default worker timers start a Worker from a blob: URL, which a strict
  // Content-Security-Policy (worker-src falling back to script-src 'self') refuses.
  const client = mqtt.connect(settings.url, { ...mqttClientOptions(settings), timerVariant: 'native' });
  // Drops are reported as 'offline'/'reconnect'; mqtt.js reconnects by itself.
  client.on('error', () => undefined);
  return awaitConnack(client, settings);
}
