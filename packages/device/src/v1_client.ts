import { RequestTimeoutError } from '@x3dh-iot/transport';
import { type InitialMessage, type PreKeyBundle, wireV1 } from '@x3dh-iot/protocol';
import type { z } from 'zod';
import { DeviceError } from './errors.js';
import type { ChatCiphertext, KeyServerClient, PendingInitialMessage, UploadedBundle } from './key_server_client.js';

const { V1_TOPICS } = wireV1;

/** What the client needs from MQTT: `MqttRequester` from the transport package fits. */
export interface Requester {
  request(topic: string, payload: string | Buffer, timeoutMs?: number): Promise<{ payload: Buffer }>;
}

export interface V1ClientOptions {
  /** Extra attempts after a timeout, for idempotent requests only. */
  retries?: number;
}

/**
 * The device side of wire protocol v1: one method per operation, payloads built by the protocol
 * package's firmware-exact builders, responses checked against its schemas. Requests that change
 * nothing, or that the server treats as idempotent (re-registering the same name and key, replacing
 * a bundle), are retried after a timeout; the others are not, since a lost response does not mean
 * the request was lost.
 */
export class V1Client implements KeyServerClient {
  private readonly retries: number;

  constructor(private readonly requester: Requester, options: V1ClientOptions = {}) {
    this.retries = options.retries ?? 2;
  }

  async users(): Promise<string[]> {
    const json = await this.call(V1_TOPICS.users, '{}', true);
    return this.expect(wireV1.usersResponse, json, 'user list').users;
  }

  async registerIdentity(username: string, identityKey: Uint8Array): Promise<string> {
    const json = await this.call(V1_TOPICS.registerIdentity, wireV1.registerIdentityPayload(username, identityKey), true);
    return this.expect(wireV1.registerIdentityResponse, json, 'registration').username;
  }

  /** v1 has no signed-prekey ids: the server keeps the newest upload only. */
  async registerBundle(username: string, bundle: UploadedBundle): Promise<void> {
    const { signedPreKey, oneTimePreKeys } = bundle;
    const payload = wireV1.registerBundlePayload(username, signedPreKey.publicKey, signedPreKey.signature, oneTimePreKeys);
    this.expect(wireV1.statusResponse, await this.call(V1_TOPICS.registerBundle, payload, true), 'bundle upload');
  }

  async fetchBundle(username: string): Promise<PreKeyBundle> {
    const json = await this.call(wireV1.bundleTopic(username), '{}', false);
    return wireV1.bundleFromResponse(this.expect(wireV1.bundleResponse, json, 'bundle'));
  }

  async sendInitialMessage(to: string, from: string, message: InitialMessage, associatedData: Uint8Array): Promise<void> {
    const payload = wireV1.initialMessagePayload(to, from, message, associatedData);
    this.expect(wireV1.statusResponse, await this.call(V1_TOPICS.initialMessage, payload, false), 'initial message');
  }

  async fetchInbox(username: string): Promise<PendingInitialMessage | null> {
    const json = await this.call(wireV1.inboxTopic(username), '{}', false);
    const error = wireV1.parseV1(wireV1.errorResponse, json);
    if (error.ok && error.value.code === 404) return null;
    return wireV1.initialMessageFromInbox(this.expect(wireV1.inboxResponse, json, 'inbox'));
  }

  async sendChat(from: string, to: string, chat: ChatCiphertext): Promise<void> {
    const payload = wireV1.chatSendPayload(from, to, chat.ciphertext, chat.nonce);
    this.expect(wireV1.statusResponse, await this.call(V1_TOPICS.chatSend, payload, false), 'message');
  }

  async fetchChat(me: string, peer: string): Promise<ChatCiphertext[]> {
    const json = await this.call(V1_TOPICS.chatFetch, wireV1.chatFetchPayload(me, peer), false);
    return this.expect(wireV1.chatFetchResponse, json, 'messages')
      .map((m) => ({ ciphertext: m.ciphertext_b64, nonce: m.nonce_b64 }));
  }

  /** The response payload as text; `expect` parses it. */
  private async call(topic: string, payload: string, idempotent: boolean): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      let response: { payload: Buffer };
      try {
        response = await this.requester.request(topic, payload);
      } catch (error) {
        if (error instanceof RequestTimeoutError) {
          if (idempotent && attempt < this.retries) continue;
          const seconds = error.timeoutMs / 1000;
          throw new DeviceError('UNREACHABLE', idempotent
            ? `no answer from the server to ${topic} within ${seconds} s (${attempt + 1} attempts)`
            : `no answer from the server to ${topic} within ${seconds} s (the request may still have been processed)`,
          { cause: error });
        }
        if (error instanceof DeviceError) throw error;
        throw new DeviceError('UNREACHABLE', `request to ${topic} failed: ${(error as Error).message}`, { cause: error });
      }
      return response.payload.toString('utf8');
    }
  }

  private expect<S extends z.ZodType>(schema: S, json: string, what: string): z.output<S> {
    const error = wireV1.parseV1(wireV1.errorResponse, json);
    if (error.ok) throw new DeviceError('SERVER_REFUSED', `server refused the ${what}: ${error.value.error}`);
    const parsed = wireV1.parseV1(schema, json);
    if (!parsed.ok) throw new DeviceError('BAD_RESPONSE', `malformed ${what} from the server: ${parsed.error}`);
    return parsed.value;
  }
}
