import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { RateLimit } from '../processing/rate_limiter.js';
import { embeddedBrokerAccess, type ServerCredentials } from './embedded_broker_access.js';
import { limitPublishRate } from './embedded_broker_publish_limit.js';
import { listenWebSocket, type WebSocketListener } from './embedded_broker_websocket.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  /** Port of the MQTT-over-WebSocket listener (same host, TLS and rules); none when absent. */
  webSocketPort?: number | undefined;
  /**
   * PEM certificate and key: when given, the broker accepts TLS 1.3 only. With a CA as well, every
   * client must present a certificate from that CA, whose CN names the device.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer | undefined } | undefined;
  /** The key server's own login: the only client that may read requests and answer devices. */
  server: ServerCredentials;
  /** Wire protocol v1 enabled: devices may use the v1 topics. */
  allowV1: boolean;
  /** Publishes per client (the server's own excepted); none when absent. */
  publishLimit?: RateLimit | undefined;
}

export interface EmbeddedBroker {
  /** URL to reach the broker from this host. */
  readonly url: string;
  readonly port: number;
  /** `wss://` or `ws://` URL of the WebSocket listener, when there is one. */
  readonly webSocketUrl: string | undefined;
  close(): Promise<void>;
}

/**
 * An in-process MQTT 5 broker (aedes 2.0.0-beta.1: the first aedes that speaks MQTT 5, passing
 * Response Topic and Correlation Data through), so that one server process is a complete system.
 * It has no shared subscriptions: run one server per embedded broker. It enforces the per-device
 * topic rules of docs/protocol-v2.md section 2 (embedded_broker_access) and a publish rate limit per
 * client (embedded_broker_publish_limit).
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions, log: Logger): Promise<EmbeddedBroker> {
  const clientCertificates = options.tls?.ca !== undefined;
  const access = embeddedBrokerAccess({ server: options.server, clientCertificates, v1: options.allowV1 }, log);
  const broker = await Aedes.createBroker(options.publishLimit === undefined ? access : {
    ...access, authorizePublish: limitPublishRate(access.authorizePublish!, options.publishLimit, options.server.clientId),
  });
  broker.on('clientError', (client, error) => log.debug({ client: client.id, err: error }, 'embedded broker client error'));
  const handle = (socket: net.Socket) => broker.handle(socket);
  const server = options.tls
    ? tls.createServer({
      cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.3',
      ...(clientCertificates ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
    }, handle)
    : net.createServer(handle);
  // A refused handshake (TLS 1.2, no or a foreign client certificate) would otherwise leave no trace.
  if (server instanceof tls.Server) server.on('tlsClientError', (error) => log.debug({ err: error }, 'embedded broker refused a TLS client'));
  // Nagle's algorithm would hold each small reply back ~40 ms waiting for a delayed ACK.
  server.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const address = (scheme: string, onPort: number) => `${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${onPort}`;
  const url = address(options.tls ? 'mqtts' : 'mqtt', port);
  let webSocket: WebSocketListener | undefined;
  try {
    if (options.webSocketPort !== undefined) webSocket = await listenWebSocket(broker, { host: options.host, port: options.webSocketPort, tls: options.tls }, log);
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }
  const webSocketUrl = webSocket && `${address(options.tls ? 'wss' : 'ws', webSocket.port)}/mqtt`;
  log.info({ url, webSocketUrl, tls: Boolean(options.tls), clientCertificates, v1: options.allowV1 }, 'embedded MQTT broker listening');
  if (!clientCertificates && !['127.0.0.1', '::1', 'localhost'].includes(options.host)) {
    log.warn({ host: options.host }, 'embedded broker reachable beyond loopback without client certificates: ' +
      'a device is whoever claims its client id; give --embedded-broker-ca');
  }
  return {
    url,
    port,
    webSocketUrl,
    close: async () => {
      await webSocket?.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
