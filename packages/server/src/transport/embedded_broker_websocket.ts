import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';

export interface WebSocketListenerOptions {
  host: string;
  port: number;
  /** The MQTT listener's TLS settings: the same certificate, TLS 1.3 only, the same client CA. */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer | undefined } | undefined;
}

export interface WebSocketListener {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * MQTT over WebSocket (subprotocol `mqtt`, any path), for browsers. A client certificate, when
 * the CA asks for one, is checked by TLS before the HTTP upgrade; the broker's access rules read
 * it from the upgrade request's socket (`client.req`), as for the MQTT listener.
 */
export async function listenWebSocket(broker: Aedes, options: WebSocketListenerOptions, log: Logger): Promise<WebSocketListener> {
  const clientCertificates = options.tls?.ca !== undefined;
  const server = options.tls
    ? https.createServer({
      cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.3',
      ...(clientCertificates ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
    })
    : http.createServer();
  // Anything but an upgrade is no business of this port.
  server.on('request', (_request, response) => response.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n'));
  if (server instanceof https.Server) server.on('tlsClientError', (error) => log.debug({ err: error }, 'embedded broker (WebSocket) refused a TLS client'));
  // Nagle's algorithm would hold each small reply back ~40 ms waiting for a delayed ACK.
  server.on('connection', (socket) => socket.setNoDelay(true));
  const sockets = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
  });
  sockets.on('connection', (socket, request) => broker.handle(createWebSocketStream(socket), request));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
