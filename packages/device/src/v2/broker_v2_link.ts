import { wireV2 } from '@x3dh-iot/protocol';
import { MqttRequester } from '@x3dh-iot/transport';
import { LazyBrokerConnection, refusedPublish, type BrokerClientOpener, type MqttClient } from '../lazy_broker_connection.js';
import { DeviceError } from '../errors.js';
import type { V2Link, V2LinkListener, V2WireRequest } from './v2_link.js';

/**
 * A v2 device's MQTT connection: subscribes to its own response and push topics only (the broker
 * rules allow nothing else), connects on the first request, and reconnects and resubscribes by
 * itself after a drop. Connectivity is reported as events, as for v1.
 *
 * The client id is the device name: brokers with per-device rules check it against the
 * certificate's name, and the embedded broker without certificates takes it as the name.
 */
export class BrokerV2Link extends LazyBrokerConnection implements V2Link {
  private listener: V2LinkListener | null = null;
  private readonly pushTopic: string;

  constructor(openClient: BrokerClientOpener, timeoutMs: number, readonly device: string) {
    super(openClient, timeoutMs, device);
    this.pushTopic = wireV2.pushTopic(device);
  }

  listen(listener: V2LinkListener): void {
    this.listener = listener;
  }

  async request(request: V2WireRequest): Promise<{ payload: Buffer }> {
    const { requester } = await this.connect();
    try {
      return await requester.requestWith(request.topic, request.payload, {
        timeoutMs: request.timeoutMs, correlationData: request.correlationData, userProperties: request.userProperties,
      });
    } catch (error) {
      throw refusedPublish(error, `${this.device}'s own (its common name must be ${this.device})`) ?? error;
    }
  }

  protected async attach(client: MqttClient): Promise<MqttRequester> {
    client.on('message', (topic, payload) => {
      if (topic === this.pushTopic) this.listener?.push(payload);
    });
    try {
      const requester = await MqttRequester.start(client, { responseTopic: wireV2.responseTopic(this.device), timeoutMs: this.timeoutMs });
      const [grant] = await client.subscribeAsync(this.pushTopic, { qos: 1 });
      if (grant !== undefined && grant.qos > 2) throw new Error(`the broker refused the subscription (reason ${grant.qos})`);
      return requester;
    } catch (error) {
      throw new DeviceError('UNREACHABLE', `cannot subscribe to the topics of ${this.device}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Pushes sent while the connection was down are lost (clean session): the mailbox has them. */
  protected override reconnected(): void {
    this.listener?.connected();
  }
}
