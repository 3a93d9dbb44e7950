import { EventEmitter } from 'node:events';
import { type connectMqtt, MqttRequester } from '@x3dh-iot/transport';
import { DeviceError } from './errors.js';

export type MqttClient = Awaited<ReturnType<typeof connectMqtt>>;

/** Connects to the broker (as `clientId`) and resolves once it accepted the session. */
export type BrokerClientOpener = (clientId: string | undefined) => Promise<MqttClient>;

export interface BrokerConnectionEvents {
  connection: ['online' | 'offline' | 'reconnecting'];
  /** A socket error after the first connection (reset, TLS failure on reconnect); reconnecting goes on. */
  problem: [Error];
}

/**
 * A device's MQTT connection, opened on first use so that local-only work (choosing a username,
 * resetting it) needs no broker. After the first connection, drops are reconnected by the
 * transport and reported as events. Subclasses subscribe to what their protocol answers on.
 */
export abstract class LazyBrokerConnection extends EventEmitter<BrokerConnectionEvents> {
  private connecting: Promise<{ client: MqttClient; requester: MqttRequester }> | null = null;

  /** `openClient` connects with the client id given (TLS files in Node, the browser's own TLS there). */
  constructor(private readonly openClient: BrokerClientOpener, readonly timeoutMs: number, private readonly clientId?: string) {
    super();
  }

  connect(): Promise<{ client: MqttClient; requester: MqttRequester }> {
    this.connecting ??= this.open().catch((error) => {
      this.connecting = null;
      throw error;
    });
    return this.connecting;
  }

  async close(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = null;
    if (!connecting) return;
    const { client, requester } = await connecting.catch(() => ({ client: null, requester: null }));
    requester?.close();
    // Forced: a request that timed out while offline must not keep the process waiting for its PUBACK.
    await client?.endAsync(true);
  }

  /** Subscribes what the protocol needs on a fresh connection; returns its requester. */
  protected abstract attach(client: MqttClient): Promise<MqttRequester>;

  /** Called after each reconnection (not the first connection). */
  protected reconnected(): void {}

  private async open(): Promise<{ client: MqttClient; requester: MqttRequester }> {
    const client = await this.openClient(this.clientId);
    // Without a listener, mqtt.js's 'error' for a dropped socket would end the process.
    client.on('error', (error) => this.emit('problem', error));
    client.on('offline', () => this.emit('connection', 'offline'));
    client.on('reconnect', () => this.emit('connection', 'reconnecting'));
    let requester: MqttRequester;
    try {
      requester = await this.attach(client);
    } catch (error) {
      await client.endAsync(true);
      throw error instanceof DeviceError ? error
        : new DeviceError('UNREACHABLE', `cannot subscribe: ${(error as Error).message}`, { cause: error });
    }
    client.on('connect', () => {
      this.emit('connection', 'online');
      this.reconnected();
    });
    this.emit('connection', 'online');
    return { client, requester };
  }
}

/**
 * A PUBLISH the broker refused by its access rules (MQTT 5 reason 0x87), as a settings error saying
 * which certificate is needed; null for any other failure. Without this the user sees only
 * "Publish error: Not authorized".
 */
export function refusedPublish(error: unknown, neededCertificate: string): DeviceError | null {
  if (!(error instanceof Error) || !/not authori[sz]ed/i.test(error.message)) return null;
  return new DeviceError('INVALID_INPUT',
    `the broker refused the request (not authorized): the client certificate (--cert, --key) must be ${neededCertificate}`, { cause: error });
}
