import { decodeBase64url, encodeBase64url, generateKeyPair, wireV2, type KeyPair } from '@x3dh-iot/protocol';
import { RequestTimeoutError } from '@x3dh-iot/transport';
import type { DeviceProvisioning, V2Link, V2LinkListener, V2WireRequest } from '../../src/index.js';

type Json = Record<string, unknown>;
type Operation = wireV2.V2Operation;

interface FakeDevice {
  identityKey: Uint8Array;
  signedPreKey: { id: number; key: string; signature: string; uploadedAt: number } | null;
  oneTimePreKeys: { id: number; key: string }[];
  maxSignedPreKeyId: number;
  maxOneTimePreKeyId: number | null;
  deleted: boolean;
  /** 1 at enrolment, one more per rotation (docs/protocol-v2.md section 6.11). */
  epoch: number;
}

class Refusal extends Error {
  constructor(readonly code: wireV2.ErrorCode, message: string) {
    super(message);
  }
}

/**
 * An in-memory v2 key server behind V2Link, for fast unit tests of the device: it checks request
 * signatures, times and request ids, bodies against the schemas, and follows docs/protocol-v2.md
 * for every operation (one-time prekeys handed out once, ids only growing, idempotent sends,
 * acknowledged mailbox, pushes). Tests reach in to lose responses, fail requests, alter bundles,
 * or redeliver and replay messages.
 */
export class FakeV2Server {
  readonly devices = new Map<string, FakeDevice>();
  readonly mailboxes = new Map<string, wireV2.MailboxMessage[]>();
  /** Every request that reached the server, in order (resends included). */
  readonly requests: { device: string; operation: Operation; requestId: string; timestamp: number; body: Json }[] = [];
  /** Operations executed (resends answered from the stored response are not counted). */
  readonly executed: Operation[] = [];
  openEnrolment = true;
  readonly tokens = new Set<string>();
  lowThreshold = 10;
  /** Responses to lose after executing (the client times out). */
  loseResponses = 0;
  /** Errors to answer instead of executing, in order. */
  readonly failNext: wireV2.ErrorCode[] = [];
  /** One error to answer instead of executing the next request of an operation. */
  readonly failOnce = new Map<Operation, wireV2.ErrorCode>();
  /** Changes a bundle on its way to the requester. */
  tamperBundle: ((bundle: Json) => Json) | null = null;
  /** Changes a directory answer on its way to the requester. */
  tamperLookup: ((answer: Json) => Json) | null = null;
  /** The operator key that signs certificates, and the deployment this server serves. */
  readonly operator: KeyPair = generateKeyPair();
  readonly deploymentId = 'fake-deployment';
  /** What its devices are provisioned with. */
  get provisioning(): DeviceProvisioning {
    return { deploymentId: this.deploymentId, operatorKey: this.operator.publicKey };
  }
  /** Whether pushes are delivered. */
  pushes = true;
  private readonly stored = new Map<string, { signed: string; response: Json }>();
  private readonly sent = new Map<string, Json>();
  private readonly listeners = new Map<string, V2LinkListener>();
  private nextMailboxId = 1;

  link(device: string): V2Link {
    return {
      request: (request) => this.handle(device, request),
      listen: (listener) => { this.listeners.set(device, listener); },
      close: async () => { this.listeners.delete(device); },
    };
  }

  /** Puts a copy of a queued (or past) message into `to`'s mailbox under a new mailbox id, as an attacker replaying it would. */
  replay(to: string, message: wireV2.MailboxMessage): wireV2.MailboxMessage {
    const copy = { ...message, id: String(this.nextMailboxId++) };
    this.mailbox(to).push(copy);
    return copy;
  }

  /** Delivers one message to the device's push topic. */
  push(device: string, payload: Json): void {
    if (!this.pushes) return;
    const listener = this.listeners.get(device);
    if (listener) setImmediate(() => listener.push(Buffer.from(JSON.stringify(payload))));
  }

  /** The `certificate` member of an answer, as the operator key signs it (tests forge others with it: another name, deployment or epoch). */
  certificate(device: string, identityKey: Uint8Array, epoch: number, deploymentId = this.deploymentId): Json {
    return { epoch, signature: encodeBase64url(wireV2.signIdentityCertificate(this.operator.privateKey, { device, identityKey, epoch, deploymentId })) };
  }

  private certified(name: string, device: FakeDevice): Json {
    return { device: name, identity_key: encodeBase64url(device.identityKey), certificate: this.certificate(name, device.identityKey, device.epoch) };
  }

  mailbox(device: string): wireV2.MailboxMessage[] {
    if (!this.mailboxes.has(device)) this.mailboxes.set(device, []);
    return this.mailboxes.get(device)!;
  }

  private async handle(device: string, request: V2WireRequest): Promise<{ payload: Buffer }> {
    await new Promise((resolve) => setImmediate(resolve));
    const parsedTopic = wireV2.parseRequestTopic(request.topic);
    if (!parsedTopic || parsedTopic.device !== device) throw new Error(`fake server: topic ${request.topic} is not ${device}'s`);
    if (request.responseTopic !== wireV2.responseTopic(device)) throw new Error('fake server: wrong response topic');
    const { operation } = parsedTopic;
    const timestamp = Number(request.userProperties[wireV2.TIMESTAMP_PROPERTY]);
    const requestId = encodeBase64url(request.correlationData);
    this.requests.push({ device, operation, requestId, timestamp, body: JSON.parse(request.payload.toString()) as Json });
    const response = this.respond(device, operation, request, timestamp);
    if (this.loseResponses > 0) {
      this.loseResponses -= 1;
      throw new RequestTimeoutError(request.topic, request.timeoutMs);
    }
    return { payload: Buffer.from(JSON.stringify(response)) };
  }

  private respond(device: string, operation: Operation, request: V2WireRequest, timestamp: number): Json {
    try {
      const body = wireV2.parsePayload(wireV2.requestBodies[operation], request.payload);
      if (!body.ok) throw new Refusal('bad_request', body.error);
      const known = this.devices.get(device);
      const key = operation === 'enroll' ? (body.value as wireV2.RequestBody<'enroll'>).identity_key : known?.identityKey;
      if (!key) throw new Refusal('unknown_device', `${device} is not enrolled`);
      if (Math.abs(Date.now() - timestamp) > 300_000) throw new Refusal('stale_request', 'request time outside the window');
      const signatureText = request.userProperties[wireV2.SIGNATURE_PROPERTY] ?? '';
      const deploymentId = request.userProperties[wireV2.DEPLOYMENT_PROPERTY] ?? '';
      if (deploymentId !== this.deploymentId) throw new Refusal('wrong_deployment', `request for deployment ${deploymentId}`);
      const fields = { deploymentId, operation, device, requestId: request.correlationData, timestamp, payload: request.payload };
      if (!wireV2.verifyRequest(key, fields, decodeBase64url(signatureText, 'signature'))) throw new Refusal('bad_signature', 'bad signature');
      const signed = encodeBase64url(wireV2.requestSignatureInput(fields));
      const storedKey = `${device}/${encodeBase64url(request.correlationData)}`;
      const previous = this.stored.get(storedKey);
      if (previous) {
        if (previous.signed !== signed) throw new Refusal('replayed_request', 'request id reused');
        return previous.response;
      }
      const failure = this.failOnce.get(operation) ?? this.failNext.shift();
      this.failOnce.delete(operation);
      if (failure) return { ok: false, error: { code: failure, message: 'injected failure' } };
      this.executed.push(operation);
      let response: Json;
      try {
        response = { ok: true, result: this.execute(device, operation, body.value as Json, request.correlationData) };
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        response = { ok: false, error: { code: error.code, message: error.message } };
      }
      this.stored.set(storedKey, { signed, response });
      return response;
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { ok: false, error: { code: error.code, message: error.message } };
    }
  }

  private execute(device: string, operation: Operation, body: Json, requestId: Uint8Array): unknown {
    const me = this.devices.get(device);
    const need = (name: string) => {
      const target = this.devices.get(name);
      if (!target || target.deleted) throw new Refusal('unknown_device', `${name} is not enrolled`);
      return target;
    };
    switch (operation) {
      case 'enroll': {
        const { identity_key: key, token_id: tokenId, token_proof: proof } = body as wireV2.RequestBody<'enroll'>;
        if (me && !Buffer.from(me.identityKey).equals(Buffer.from(key))) throw new Refusal('name_taken', 'name taken');
        if (!me) {
          if (!this.openEnrolment) {
            const token = [...this.tokens].find((t) => tokenId !== undefined && proof !== undefined
              && Buffer.from(wireV2.enrolmentTokenClaim(t, device, key, requestId).proof).equals(Buffer.from(proof)));
            if (token === undefined) throw new Refusal('enrolment_required', 'enrolment token needed');
            this.tokens.delete(token);
          }
          this.devices.set(device, {
            identityKey: key, signedPreKey: null, oneTimePreKeys: [], maxSignedPreKeyId: -1, maxOneTimePreKeyId: null, deleted: false, epoch: 1,
          });
        }
        this.devices.get(device)!.deleted = false;
        return { device, identity_key: encodeBase64url(key) };
      }
      case 'prekeys.upload': {
        const d = need(device);
        const upload = body as wireV2.RequestBody<'prekeys.upload'>;
        const spk = upload.signed_prekey;
        if (spk) {
          if (!wireV2.verifySignedPreKey(d.identityKey, device, spk.id, spk.key, spk.signature)) throw new Refusal('bad_prekey_signature', 'bad signed prekey signature');
          if (spk.id <= d.maxSignedPreKeyId) throw new Refusal('prekey_id_reused', 'signed prekey id reused');
        }
        const opks = upload.one_time_prekeys ?? [];
        if (opks.some((k) => d.maxOneTimePreKeyId !== null && k.id <= d.maxOneTimePreKeyId)) throw new Refusal('prekey_id_reused', 'one-time prekey id reused');
        if (d.oneTimePreKeys.length + opks.length > 200) throw new Refusal('prekey_cap', 'too many one-time prekeys');
        if (spk) {
          d.signedPreKey = { id: spk.id, key: encodeBase64url(spk.key), signature: encodeBase64url(spk.signature), uploadedAt: Date.now() };
          d.maxSignedPreKeyId = spk.id;
        }
        for (const k of opks) d.oneTimePreKeys.push({ id: k.id, key: encodeBase64url(k.key) });
        if (opks.length > 0) d.maxOneTimePreKeyId = Math.max(d.maxOneTimePreKeyId ?? -1, ...opks.map((k) => k.id));
        return { one_time_prekeys: d.oneTimePreKeys.length, signed_prekey_id: d.signedPreKey?.id ?? null };
      }
      case 'prekeys.status': {
        const d = need(device);
        return {
          one_time_prekeys: d.oneTimePreKeys.length, signed_prekey_id: d.signedPreKey?.id ?? null,
          signed_prekey_uploaded_at: d.signedPreKey?.uploadedAt ?? null, max_one_time_prekey_id: d.maxOneTimePreKeyId,
          max_signed_prekey_id: d.maxSignedPreKeyId < 0 ? null : d.maxSignedPreKeyId,
          signed_prekey_digest: d.signedPreKey === null ? null : wireV2.signedPreKeyDigest({
            id: d.signedPreKey.id, key: decodeBase64url(d.signedPreKey.key), signature: decodeBase64url(d.signedPreKey.signature),
          }),
        };
      }
      case 'bundle.fetch': {
        const name = (body as { device: string }).device;
        const target = need(name);
        if (!target.signedPreKey) throw new Refusal('not_found', `${name} has no bundle`);
        const opk = target.oneTimePreKeys.shift();
        if (target.oneTimePreKeys.length < this.lowThreshold) this.push(name, { type: 'prekeys_low', one_time_prekeys: target.oneTimePreKeys.length });
        const { id, key, signature } = target.signedPreKey;
        const bundle: Json = { ...this.certified(name, target), signed_prekey: { id, key, signature }, ...(opk ? { one_time_prekey: opk } : {}) };
        return this.tamperBundle ? this.tamperBundle(bundle) : bundle;
      }
      case 'directory.list':
        return { devices: [...this.devices].filter(([, d]) => !d.deleted).map(([name]) => name) };
      case 'directory.lookup': {
        const name = (body as { device: string }).device;
        const answer = this.certified(name, need(name));
        return this.tamperLookup ? this.tamperLookup(answer) : answer;
      }
      case 'message.send': {
        const send = body as wireV2.RequestBody<'message.send'>;
        need(send.to);
        const idempotency = `${device}/${encodeBase64url(send.id)}`;
        const earlier = this.sent.get(idempotency);
        if (earlier) return earlier;
        const message = {
          id: String(this.nextMailboxId++), from: device, type: send.type, envelope: send.envelope, client_id: send.id, queued_at: Date.now(),
        };
        this.mailbox(send.to).push(message);
        const result = { message_id: message.id, queued_at: message.queued_at };
        this.sent.set(idempotency, result);
        this.push(send.to, { type: 'message', message: toJson(message) });
        return result;
      }
      case 'mailbox.fetch': {
        const { after, limit } = body as wireV2.RequestBody<'mailbox.fetch'>;
        const messages = this.mailbox(device).filter((m) => after === undefined || BigInt(m.id) > BigInt(after)).slice(0, limit ?? 50);
        return { messages: messages.map(toJson) };
      }
      case 'mailbox.ack': {
        const ids = new Set((body as { ids: string[] }).ids);
        const box = this.mailbox(device);
        const kept = box.filter((m) => !ids.has(m.id));
        this.mailboxes.set(device, kept);
        return { acknowledged: box.length - kept.length };
      }
      case 'device.delete': {
        const d = need(device);
        d.deleted = true;
        d.signedPreKey = null;
        d.oneTimePreKeys = [];
        this.mailboxes.delete(device);
        return { deleted: true };
      }
      case 'identity.rotate': {
        const d = need(device);
        const { new_identity_key: key, proof } = body as wireV2.RequestBody<'identity.rotate'>;
        if (!wireV2.verifyRotationProof(key, device, d.identityKey, proof)) throw new Refusal('bad_signature', 'proof does not verify');
        Object.assign(d, { identityKey: key, signedPreKey: null, oneTimePreKeys: [], epoch: d.epoch + 1 });
        return { device, identity_key: encodeBase64url(key) };
      }
    }
  }
}

function toJson(message: wireV2.MailboxMessage): Json {
  return { ...message, envelope: encodeBase64url(message.envelope), client_id: encodeBase64url(message.client_id) };
}
