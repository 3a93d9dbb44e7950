import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { wireV2 } from '@x3dh-iot/protocol';
import { connectMqtt, MqttRequester } from '@x3dh-iot/transport';
import type { BrokerConnectionEvents } from '../broker_connection.js';
import type { ConnectionSettings } from '../connection_settings.js';
import { DeviceError } from '../errors.js';
import type { V2Link, V2LinkListener, V2WireRequest } from './v2_link.js';

type MqttClient = Awaited<ReturnType<typeof connectMqtt>>;

/**
 * A v2 device's MQTT connection: subscribes to its own response and push topics only (the broker
 * rules allow nothing else), connects on the first request, and reconnects and resubscribes by
 * itself after a drop. Connectivity is reported as events, as for v1.
 */
export class MqttV2Link extends EventEmitter<BrokerConnectionEvents> implements V2Link {
  private connecting: Promise<{ client: MqttClient; requester: MqttRequester }> | null = null;
  private listener: V2LinkListener | null = null;
  private readonly pushTopic: string;

  constructor(readonly settings: ConnectionSettings, readonly device: string) {
    super();
    this.pushTopic = wireV2.pushTopic(device);
  }

  listen(listener: V2LinkListener): void {
    this.listener = listener;
  }

  async request(request: V2WireRequest): Promise<{ payload: Buffer }> {
    const { requester } = await this.connect();
    return requester.requestWith(request.topic, request.payload, {
      timeoutMs: request.timeoutMs, correlationData: request.correlationData, userProperties: request.userProperties,
    });
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

  private async open(): Promise<{ client: MqttClient; requester: MqttRequester }> {
    const { settings } = this;
    const read = async (what: string, path: string | undefined) => {
      if (path === undefined) return undefined;
      try {
        return await readFile(path);
      } catch (error) {
        throw new DeviceError('INVALID_INPUT', `cannot read the ${what} file ${path}: ${(error as Error).message}`, { cause: error });
      }
    };
    const [ca, cert, key] = [
      await read('CA', settings.caFile), await read('client certificate', settings.certFile), await read('client key', settings.keyFile),
    ];
    let client: MqttClient;
    try {
      // The client id is the device name: brokers with per-device rules check it against the
      // certificate's name, and the embedded broker without certificates takes it as the name.
      client = await connectMqtt({ url: settings.brokerUrl, clientId: this.device, ca, cert, key, connectTimeoutMs: settings.timeoutMs });
    } catch (error) {
      throw new DeviceError('UNREACHABLE', (error as Error).message, { cause: error });
    }
    client.on('error', (error) => this.emit('problem', error));
    client.on('offline', () => this.emit('connection', 'offline'));
    client.on('reconnect', () => this.emit('connection', 'reconnecting'));
    client.on('message', (topic, payload) => {
      if (topic === this.pushTopic) this.listener?.push(payload);
    });
    let requester: MqttRequester;
    try {
      requester = await MqttRequester.start(client, { responseTopic: wireV2.responseTopic(this.device), timeoutMs: settings.timeoutMs });
      const [grant] = await client.subscribeAsync(this.pushTopic, { qos: 1 });
      if (grant !== undefined && grant.qos > 2) throw new Error(`the broker refused the subscription (reason ${grant.qos})`);
    } catch (error) {
      await client.endAsync(true);
      throw new DeviceError('UNREACHABLE', `cannot subscribe to the topics of ${this.device}: ${(error as Error).message}`, { cause: error });
    }
    // Pushes sent while the connection was down are lost (clean session): the mailbox has them.
    client.on('connect', () => {
      this.emit('connection', 'online');
      this.listener?.connected();
    });
    this.emit('connection', 'online');
    return { client, requester };
  }
}
