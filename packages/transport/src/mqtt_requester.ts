import type { MqttClient, IPublishPacket } from 'mqtt';

export class RequestTimeoutError extends Error {
  constructor(readonly topic: string, readonly timeoutMs: number) {
    super(`no response to ${topic} within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

export interface RequesterOptions {
  /** Response Topic sent with every request. */
  responseTopic: string;
  /** Filter subscribed to for responses; the response topic itself by default. */
  responseFilter?: string;
  timeoutMs?: number;
  /** Correlation Data for one request; v1 devices send the ASCII digits of a random 32-bit number. */
  newCorrelation?: () => Buffer;
}

/** Per-request fields for protocols that choose their own Correlation Data and sign their requests. */
export interface RequestFields {
  timeoutMs?: number;
  /** Correlation Data to send instead of a fresh one, e.g. to resend the same request after a timeout. */
  correlationData?: Buffer;
  /** MQTT 5 User Properties published with the request. */
  userProperties?: Record<string, string>;
}

export interface MqttResponse {
  payload: Buffer;
  topic: string;
  properties: IPublishPacket['properties'];
}

interface Pending {
  resolve: (response: MqttResponse) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A random unsigned 32-bit number (Web Crypto: present in Node and in browsers). */
const random32 = (): number => crypto.getRandomValues(new Uint32Array(1))[0]!;

export const v1Correlation = (): Buffer => Buffer.from(String(random32()), 'ascii');

/**
 * MQTT 5 request/response: publishes at QoS 1 with Response Topic and Correlation Data and
 * resolves with the message that carries the same Correlation Data. Responses for other
 * requesters (v1 devices all share one response topic) are ignored.
 */
export class MqttRequester {
  private readonly pending = new Map<string, Pending>();
  private readonly timeoutMs: number;
  private readonly newCorrelation: () => Buffer;
  private readonly onMessage = (topic: string, payload: Buffer, packet: IPublishPacket) => {
    const correlation = packet.properties?.correlationData;
    if (!correlation) return;
    const key = correlation.toString('base64');
    const entry = this.pending.get(key);
    if (!entry) return;
    this.pending.delete(key);
    clearTimeout(entry.timer);
    entry.resolve({ payload, topic, properties: packet.properties });
  };

  private constructor(readonly client: MqttClient, private readonly options: RequesterOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.newCorrelation = options.newCorrelation ?? v1Correlation;
    client.on('message', this.onMessage);
  }

  static async start(client: MqttClient, options: RequesterOptions): Promise<MqttRequester> {
    const requester = new MqttRequester(client, options);
    await client.subscribeAsync(options.responseFilter ?? options.responseTopic, { qos: 1 });
    return requester;
  }

  request(topic: string, payload: string | Buffer, timeoutMs = this.timeoutMs): Promise<MqttResponse> {
    return this.requestWith(topic, payload, { timeoutMs });
  }

  /**
   * A request with caller-chosen Correlation Data and User Properties. A late response to an
   * earlier attempt with the same Correlation Data answers this one, which is what a resend wants.
   */
  async requestWith(topic: string, payload: string | Buffer, fields: RequestFields): Promise<MqttResponse> {
    const timeoutMs = fields.timeoutMs ?? this.timeoutMs;
    let correlation = fields.correlationData ?? this.newCorrelation();
    if (fields.correlationData && this.pending.has(correlation.toString('base64'))) {
      throw new Error('a request with this Correlation Data is already waiting for its response');
    }
    while (this.pending.has(correlation.toString('base64'))) correlation = this.newCorrelation();
    const key = correlation.toString('base64');
    const response = new Promise<MqttResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new RequestTimeoutError(topic, timeoutMs));
      }, timeoutMs);
      this.pending.set(key, { resolve, reject, timer });
    });
    // Not awaited: while the client is offline the PUBACK (and so the publish) waits for a
    // reconnect, and the timeout must still apply. A failed publish fails the request.
    this.client.publishAsync(topic, payload, {
      qos: 1,
      properties: {
        responseTopic: this.options.responseTopic,
        correlationData: correlation,
        payloadFormatIndicator: true,
        contentType: 'application/json',
        ...(fields.userProperties ? { userProperties: fields.userProperties } : {}),
      },
    }).catch((error: Error) => {
      const entry = this.pending.get(key);
      if (entry) {
        clearTimeout(entry.timer);
        this.pending.delete(key);
        entry.reject(error);
      }
    });
    return response;
  }

  /** Rejects every request still waiting and stops listening (the client stays open). */
  close(): void {
    this.client.off('message', this.onMessage);
    for (const [key, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new Error('requester closed'));
      this.pending.delete(key);
    }
  }
}
