import net from 'node:net';
import tls from 'node:tls';
import { MqttClient, type IClientOptions } from 'mqtt';

export interface MqttConnectionOptions {
  /** `mqtts://host:port` (TLS 1.3) or `mqtt://host:port` (plain TCP, for loopback only). */
  url: string;
  clientId?: string;
  /** PEM CA certificate(s) the broker's certificate must chain to; the system store when absent. */
  ca?: string | Buffer | undefined;
  /** PEM client certificate and key, for brokers that authenticate clients by certificate. */
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  /** Name checked against the broker certificate; the URL's host by default. */
  servername?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  keepaliveSeconds?: number;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  /** false keeps the broker-side session (subscriptions, queued QoS 1 messages) across reconnects. */
  clean?: boolean;
  /** MQTT 5 session expiry, seconds; only meaningful with clean = false. */
  sessionExpirySeconds?: number;
}

export class MqttConnectError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MqttConnectError';
  }
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
  throw new MqttConnectError(`unsupported broker URL scheme ${url.protocol} (use mqtts:// or mqtt://)`);
}

export function createMqttClient(options: MqttConnectionOptions): MqttClient {
  const clientOptions: IClientOptions = {
    protocolVersion: 5,
    clientId: options.clientId ?? `x3dh-${Math.random().toString(16).slice(2, 10)}`,
    username: options.username,
    password: options.password,
    keepalive: options.keepaliveSeconds ?? 30,
    reconnectPeriod: options.reconnectPeriodMs ?? 1000,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    clean: options.clean ?? true,
    properties: options.sessionExpirySeconds ? { sessionExpiryInterval: options.sessionExpirySeconds } : undefined,
    resubscribe: true,
  };
  const build = socketFactory(options);
  const client = new MqttClient(() => build() as never, clientOptions);
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
  const client = createMqttClient(options);
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      cleanup();
      client.end(true);
      reject(new MqttConnectError(`cannot connect to ${options.url}: ${error.message}`, { cause: error }));
    };
    const timer = setTimeout(
      () => fail(new Error(`no CONNACK within ${options.connectTimeoutMs ?? 10_000} ms`)),
      options.connectTimeoutMs ?? 10_000,
    );
    const onConnect = () => {
      cleanup();
      resolve(client);
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', fail);
    };
    client.on('connect', onConnect);
    client.on('error', fail);
  });
}
