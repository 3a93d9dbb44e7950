import { randomBytes } from 'node:crypto';
import {
  encodeBase64url as b64, generateKeyPair, wireV2, xeddsaSign, xeddsaSigningKey, type KeyPair, type XeddsaSigningKey,
} from '@x3dh-iot/protocol';
import { connectMqtt } from '@x3dh-iot/transport';
import { TEST_DEPLOYMENT_ID } from './test_operator.js';

type MqttClient = Awaited<ReturnType<typeof connectMqtt>>;

export interface V2DeviceOptions {
  /** The device name: topic level, directory name (and the client certificate's CN when there is one). */
  name: string;
  brokerUrl: string;
  /** PEM CA of a TLS broker, and a client certificate and key when the broker asks for one. */
  ca?: string | Buffer | undefined;
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  /** The identity key pair; a fresh one by default. */
  identity?: KeyPair;
  /** The deployment id requests are signed for (TEST_DEPLOYMENT_ID by default). */
  deploymentId?: string;
  clientId?: string;
  /** How long a request waits for its response (default 15 s). */
  timeoutMs?: number;
  /**
   * Keep every response and push received (default true: attack tests read them, and waitForPush
   * needs them); a load generator sending thousands of requests turns it off.
   */
  keepReceived?: boolean;
}

/** Ways to get a request wrong on purpose, for attack tests. */
export interface Forgery {
  /** Sign with this private key instead of the device's identity key. */
  signingKey?: Uint8Array;
  /** Request time (ms) put in `x3dh-ts` and signed. */
  timestamp?: number;
  /** Request id (Correlation Data), e.g. one used before. */
  requestId?: Uint8Array;
  /** Changes the payload after it was signed. */
  tamper?: (payload: string) => string;
  /** The raw payload to sign and send instead of the JSON of the body. */
  rawPayload?: string | Buffer;
  /** Publish to the request topic of this device (signed as the device it names unless `signAs`). */
  topicDevice?: string;
  /** The device name that goes into the signed string. */
  signAs?: string;
  /** Replace the signature property with this text, or drop it (null). */
  signatureText?: string | null;
  /** Sign for, and name, this deployment id instead of the device's. */
  deploymentId?: string;
  /** Replace the deployment property with this text, or drop it (null), after signing. */
  deploymentText?: string | null;
  /** Replace the time property with this text, or drop it (null). */
  timestampText?: string | null;
  /** Publish to exactly this topic. */
  topic?: string;
  /** Response Topic to name in the request (the server must answer on the device's own anyway). */
  responseTopic?: string;
}

/** What a request published: enough to send the very same request again. */
export interface SentRequest {
  topic: string;
  payload: Buffer;
  requestId: Uint8Array;
  userProperties: Record<string, string>;
  responseTopic: string;
}

export type V2Response = { ok: true; result: Record<string, unknown> } | { ok: false; error: { code: string; message: string; retry_after_ms?: number } };

/** Signing keys by private key, derived once: load runs sign thousands of requests per key. */
const signingKeys = new WeakMap<Uint8Array, XeddsaSigningKey>();

function signingKeyOf(privateKey: Uint8Array): XeddsaSigningKey {
  let key = signingKeys.get(privateKey);
  if (key === undefined) {
    key = xeddsaSigningKey(privateKey);
    signingKeys.set(privateKey, key);
  }
  return key;
}

interface Waiter {
  resolve: (response: V2Response) => void;
  timer: NodeJS.Timeout;
}

/**
 * A raw v2 device for tests: connects with mqtt.js (optionally with a TLS client certificate),
 * subscribes to its response and push topics, and signs requests as docs/protocol-v2.md section 3
 * says, or forges them (wrong key, stale or future time, reused request id, payload tampered after
 * signing, another device's topic) for attack tests. It keeps every response and push it receives.
 */
export class V2TestDevice {
  /** Every response received, in order, with its Correlation Data in hex. */
  readonly responses: { requestId: string; response: V2Response }[] = [];
  /** Every push received, in order. */
  readonly pushes: Record<string, unknown>[] = [];
  private readonly waiters = new Map<string, Waiter>();
  private pushWaiters: (() => void)[] = [];

  private constructor(
    readonly name: string,
    public identity: KeyPair,
    readonly client: MqttClient,
    private readonly timeoutMs: number,
    keepReceived: boolean,
    readonly deploymentId: string,
  ) {
    const pushTopic = wireV2.pushTopic(name);
    client.on('message', (topic, payload, packet) => {
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      } catch {
        return;
      }
      if (topic === pushTopic) {
        if (keepReceived) this.pushes.push(json);
        for (const wake of this.pushWaiters.splice(0)) wake();
        return;
      }
      const id = packet.properties?.correlationData?.toString('hex') ?? '';
      if (keepReceived) this.responses.push({ requestId: id, response: json as V2Response });
      const waiter = this.waiters.get(id);
      if (waiter) {
        this.waiters.delete(id);
        clearTimeout(waiter.timer);
        waiter.resolve(json as V2Response);
      }
    });
  }

  static async connect(options: V2DeviceOptions): Promise<V2TestDevice> {
    const client = await connectMqtt({
      url: options.brokerUrl, ca: options.ca, cert: options.cert, key: options.key,
      clientId: options.clientId ?? options.name,
    });
    client.on('error', () => {});
    const device = new V2TestDevice(options.name, options.identity ?? generateKeyPair(), client, options.timeoutMs ?? 15_000,
      options.keepReceived ?? true, options.deploymentId ?? TEST_DEPLOYMENT_ID);
    await client.subscribeAsync([wireV2.responseTopic(options.name), wireV2.pushTopic(options.name)], { qos: 1 });
    return device;
  }

  /** Signs and sends one request; resolves with its response (rejects after the timeout). */
  async request(operation: string, body: unknown = {}, forgery: Forgery = {}): Promise<V2Response> {
    return this.send(this.sign(operation, body, forgery));
  }

  /** Like request, but resolves with null when no response comes within `waitMs`. */
  async requestOrSilence(operation: string, body: unknown = {}, forgery: Forgery = {}, waitMs = 3000): Promise<V2Response | null> {
    return this.send(this.sign(operation, body, forgery), waitMs).catch(() => null);
  }

  /** Builds a signed (or forged) request without sending it. */
  sign(operation: string, body: unknown = {}, forgery: Forgery = {}): SentRequest {
    const requestId = forgery.requestId ?? new Uint8Array(randomBytes(wireV2.REQUEST_ID_BYTES));
    const timestamp = forgery.timestamp ?? Date.now();
    const payloadText = forgery.rawPayload ?? JSON.stringify(body);
    const payload = Buffer.isBuffer(payloadText) ? payloadText : Buffer.from(payloadText, 'utf8');
    const topicDevice = forgery.topicDevice ?? this.name;
    const signedDevice = forgery.signAs ?? topicDevice;
    const deploymentId = forgery.deploymentId ?? this.deploymentId;
    let signature = '';
    try {
      signature = b64(wireV2.signRequestWith(signingKeyOf(forgery.signingKey ?? this.identity.privateKey), {
        deploymentId, operation: operation as wireV2.V2Operation, device: signedDevice, requestId, timestamp, payload,
      }));
    } catch {
      // Not signable (unknown operation, invalid name): sent with a signature over nothing useful.
      signature = b64(new Uint8Array(64));
    }
    const sent = forgery.tamper ? Buffer.from(forgery.tamper(payload.toString('utf8')), 'utf8') : payload;
    const userProperties: Record<string, string> = {};
    const time = forgery.timestampText === undefined ? String(timestamp) : forgery.timestampText;
    if (time !== null) userProperties[wireV2.TIMESTAMP_PROPERTY] = time;
    const sig = forgery.signatureText === undefined ? signature : forgery.signatureText;
    if (sig !== null) userProperties[wireV2.SIGNATURE_PROPERTY] = sig;
    const deployment = forgery.deploymentText === undefined ? deploymentId : forgery.deploymentText;
    if (deployment !== null) userProperties[wireV2.DEPLOYMENT_PROPERTY] = deployment;
    return {
      topic: forgery.topic ?? `${wireV2.V2_TOPIC_PREFIX}/req/${topicDevice}/${operation}`,
      payload: sent,
      requestId,
      userProperties,
      responseTopic: forgery.responseTopic ?? wireV2.responseTopic(this.name),
    };
  }

  /** Publishes a built request (again, for a resend) and waits for the response with its request id. */
  send(request: SentRequest, timeoutMs = this.timeoutMs): Promise<V2Response> {
    const id = Buffer.from(request.requestId).toString('hex');
    const response = new Promise<V2Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`no response to ${request.topic} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, { resolve, timer });
    });
    this.client.publish(request.topic, request.payload, {
      qos: 1,
      properties: {
        responseTopic: request.responseTopic,
        correlationData: Buffer.from(request.requestId),
        userProperties: request.userProperties,
        payloadFormatIndicator: true,
        contentType: 'application/json',
      },
    });
    return response;
  }

  /** Resolves with the first push (received so far or later) that matches. */
  async waitForPush(match: (push: Record<string, unknown>) => boolean, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.pushes.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching push within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.pushWaiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  /**
   * Enrols this device's identity key (with a token unless the server has open enrolment): the
   * token goes only as its id and a MAC over this name, key and request id (enrolmentBody).
   */
  enroll(token?: string, forgery: Forgery = {}): Promise<V2Response> {
    const requestId = forgery.requestId ?? new Uint8Array(randomBytes(wireV2.REQUEST_ID_BYTES));
    const body = enrolmentBody(forgery.signAs ?? forgery.topicDevice ?? this.name, this.identity.publicKey, requestId, token);
    return this.request('enroll', body, { ...forgery, requestId });
  }

  async close(): Promise<void> {
    for (const waiter of this.waiters.values()) clearTimeout(waiter.timer);
    await this.client.endAsync();
  }
}

/** The body of an `enroll` request of `device` with `identityKey` and request id `requestId`, proving `token` if given. */
export function enrolmentBody(
  device: string, identityKey: Uint8Array, requestId: Uint8Array, token?: string,
): { identity_key: string; token_id?: string; token_proof?: string } {
  if (token === undefined) return { identity_key: b64(identityKey) };
  const claim = wireV2.enrolmentTokenClaim(token, device, identityKey, requestId);
  return { identity_key: b64(identityKey), token_id: b64(claim.tokenId), token_proof: b64(claim.proof) };
}

/** A prekey upload body with fresh keys: the private keys stay here for tests that need them. */
export interface PreKeyBatch {
  body: { signed_prekey?: { id: number; key: string; signature: string }; one_time_prekeys?: { id: number; key: string }[] };
  signedPreKey?: KeyPair;
  oneTimePreKeys: { id: number; pair: KeyPair }[];
}

/**
 * Builds a `prekeys.upload` body of the device `owner`: a signed prekey with id `signedPreKeyId`,
 * signed by its identity over (name, id, key) as v2 wants it (or forged: by `signWith`, or over the
 * key alone with `keyOnlySignature`), and one-time prekeys with ids firstId, firstId + 1, ...
 */
export function preKeyBatch(owner: { name: string; identity: KeyPair }, options: {
  signedPreKeyId?: number; firstOneTimePreKeyId?: number; count?: number; signWith?: Uint8Array; keyOnlySignature?: boolean;
} = {}): PreKeyBatch {
  const body: PreKeyBatch['body'] = {};
  let signedPreKey: KeyPair | undefined;
  if (options.signedPreKeyId !== undefined) {
    signedPreKey = generateKeyPair();
    const signer = options.signWith ?? owner.identity.privateKey;
    body.signed_prekey = {
      id: options.signedPreKeyId,
      key: b64(signedPreKey.publicKey),
      signature: b64(options.keyOnlySignature
        ? xeddsaSign(signer, signedPreKey.publicKey)
        : wireV2.signSignedPreKey(signer, owner.name, options.signedPreKeyId, signedPreKey.publicKey)),
    };
  }
  const oneTimePreKeys = Array.from({ length: options.count ?? 0 }, (_, i) => ({
    id: (options.firstOneTimePreKeyId ?? 1) + i, pair: generateKeyPair(),
  }));
  if (oneTimePreKeys.length > 0) body.one_time_prekeys = oneTimePreKeys.map((k) => ({ id: k.id, key: b64(k.pair.publicKey) }));
  return { body, signedPreKey, oneTimePreKeys };
}

/** Connects a device, enrols it and uploads a signed prekey (id 1) and `oneTimePreKeys` one-time prekeys (ids 1...). */
export async function enrolV2Device(options: V2DeviceOptions & { token?: string; oneTimePreKeys?: number }): Promise<V2TestDevice> {
  const device = await V2TestDevice.connect(options);
  try {
    const enrolled = await device.enroll(options.token);
    if (!enrolled.ok) throw new Error(`enrolment of ${options.name} refused: ${enrolled.error.code} ${enrolled.error.message}`);
    const upload = await device.request('prekeys.upload', preKeyBatch(device, {
      signedPreKeyId: 1, firstOneTimePreKeyId: 1, count: options.oneTimePreKeys ?? 10,
    }).body);
    if (!upload.ok) throw new Error(`prekey upload of ${options.name} refused: ${upload.error.code} ${upload.error.message}`);
    return device;
  } catch (error) {
    await device.close();
    throw error;
  }
}
