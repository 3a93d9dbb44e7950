import net from 'node:net';
import tls from 'node:tls';
import { connect, MqttClient, type IClientOptions } from 'mqtt';
import { awaitConnack, MqttConnectError, mqttClientOptions, type MqttClientSettings } from './mqtt_client_settings.js';
import { isWebSocketUrl } from './websocket_url.js';

export { MqttConnectError, type MqttClientSettings } from './mqtt_client_settings.js';

export interface MqttConnectionOptions extends MqttClientSettings {
  /** PEM CA certificate(s) the broker's certificate must chain to; the system store when absent. */
  ca?: string | Buffer | undefined;
  /** PEM client certificate and key, for brokers that authenticate clients by certificate. */
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  /** Name checked against the broker certificate; the URL's host by default. */
  servername?: string | undefined;
}

/**
 * Opens the socket for every (re)connection. Nagle's algorithm is turned off on each one: with it on,
 * every request/response waits ~40 ms for a delayed ACK. TLS is 1.3 only, with verification on.
 */
function socketFactory(options: MqttConnectionOptions): () => net.Socket {
  const url = new URL(options.url);
  const port = Number(url.port || (url.protocol === 'mqtts:' ? 8883 : 1883));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'mqtts:') {
    return () => {
      const socket = tls.connect({
        host, port,
        ca: options.ca, cert: options.cert, key: options.key,
        servername: options.servername ?? (net.isIP(host) ? undefined : host),
        minVersion: 'TLSv1.3',
        rejectUnauthorized: true,
      });
      socket.setNoDelay(true);
      return socket;
    };
  }
  if (url.protocol === 'mqtt:') {
    return () => net.connect({ host, port, noDelay: true });
  }
  throw new MqttConnectError(`unsupported broker URL scheme ${url.protocol} (use mqtts://, mqtt://, wss:// or ws://)`);
}

function tcpClient(options: MqttConnectionOptions, clientOptions: IClientOptions): MqttClient {
  const build = socketFactory(options);
  return new MqttClient(() => build() as never, clientOptions);
}

/** The same TLS rules as mqtts://: 1.3 only, the broker's certificate verified. */
function webSocketTls(options: MqttConnectionOptions): Record<string, unknown> {
  const host = new URL(options.url).hostname.replace(/^\[|\]$/g, '');
  return {
    ca: options.ca, cert: options.cert, key: options.key,
    servername: options.servername ?? (net.isIP(host) ? undefined : host),
    minVersion: 'TLSv1.3', rejectUnauthorized: true,
  };
}

export function createMqttClient(options: MqttConnectionOptions): MqttClient {
  const clientOptions = mqttClientOptions(options);
  const client = isWebSocketUrl(options.url)
    // mqtt.js opens WebSockets itself (the ws library); node:https turns Nagle off on its sockets.
    ? connect(options.url, { ...clientOptions, wsOptions: webSocketTls(options) })
    : tcpClient(options, clientOptions);
  // A dropped connection (ECONNRESET, a broker restart) is emitted as 'error' before mqtt.js
  // reconnects by itself; without a listener Node would turn it into an uncaught exception.
  // Callers observe connectivity through 'offline', 'reconnect' and 'connect'.
  client.on('error', () => undefined);
  return client;
}

/**
 * Connects and resolves once the broker has accepted the session. Later drops reconnect by
 * themselves (and resubscribe); the first failure is reported instead of retried forever.
 */
export function connectMqtt(options: MqttConnectionOptions): Promise<MqttClient> {
  return awaitConnack(createMqttClient(options), options);
}
