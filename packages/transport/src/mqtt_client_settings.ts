import type { IClientOptions, MqttClient } from 'mqtt';

/** What every MQTT connection takes, in Node and in browsers. */
export interface MqttClientSettings {
  /**
   * `mqtts://host:port` (TLS 1.3) or `mqtt://host:port` (plain TCP, for loopback only);
   * `wss://host:port/path` (WebSocket over TLS 1.3) or `ws://host:port/path` (plain, loopback only).
   * Browsers have WebSocket only.
   */
  url: string;
  clientId?: string | undefined;
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

export function mqttClientOptions(settings: MqttClientSettings): IClientOptions {
  return {
    protocolVersion: 5,
    clientId: settings.clientId ?? `x3dh-${Math.random().toString(16).slice(2, 10)}`,
    username: settings.username,
    password: settings.password,
    keepalive: settings.keepaliveSeconds ?? 30,
    reconnectPeriod: settings.reconnectPeriodMs ?? 1000,
    connectTimeout: settings.connectTimeoutMs ?? 10_000,
    clean: settings.clean ?? true,
    properties: settings.sessionExpirySeconds ? { sessionExpiryInterval: settings.sessionExpirySeconds } : undefined,
    resubscribe: true,
  };
}

/**
 * Resolves once the broker has accepted the session. Later drops reconnect by themselves (and
 * resubscribe); the first failure is reported instead of retried forever.
 */
export function awaitConnack(client: MqttClient, settings: MqttClientSettings): Promise<MqttClient> {
  const timeoutMs = settings.connectTimeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      cleanup();
      client.end(true);
      reject(new MqttConnectError(`cannot connect to ${settings.url}: ${error.message}`, { cause: error }));
    };
    const timer = setTimeout(() => fail(new Error(`no CONNACK within ${timeoutMs} ms`)), timeoutMs);
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
