import { wireV1 } from '@x3dh-iot/protocol';
import type { z } from 'zod';
import {
  listUsers, queueChatMessage, queueInitialMessage, registerIdentity, replaceBundle, takeBundle, takeChatMessages,
  takeInitialMessage,
} from '../domain/index.js';
import type { PreparedRequest, Reply, RequestProtocol } from '../processing/request_protocol.js';
import type { Bucket } from '../storage/queries/fetch_allowance_queries.js';
import type { InboundRequest } from '../transport/request_channel.js';
import {
  bundleCreatedReply, bundleReply, chatMessagesReply, createdReply, deliveredReply, errorReply, inboxReply, usersReply,
} from './v1_replies.js';

type Parsed<T> = { ok: true; value: T } | { ok: false; reply: Reply };

/**
 * Validates a v1 JSON request with the protocol package's schema. An absent field is answered
 * "Missing fields", as the original server did; any other problem names the field.
 */
function parseRequest<S extends z.ZodObject>(schema: S, payload: Buffer): Parsed<z.output<S>> {
  const parsed = wireV1.parseV1(schema, payload);
  if (parsed.ok) return parsed;
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    json = undefined;
  }
  const missing = typeof json === 'object' && json !== null && !Array.isArray(json) &&
    Object.entries(schema.shape).some(([key, field]) =>
      !(key in json) && !(field as z.ZodType).safeParse(undefined).success);
  return { ok: false, reply: errorReply(missing ? 'Missing fields' : parsed.error, 'invalid') };
}

function parseUsername(name: string | undefined): Parsed<string> {
  const parsed = wireV1.usernameSchema.safeParse(name);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, reply: errorReply(`username: ${parsed.error.issues[0]!.message}`, 'invalid') };
}

/**
 * Wire protocol v1, as the original firmware speaks it (../shared/spec/wire-v1.md), with the
 * original server's defects corrected by the domain rules. Requests carrying a username in the
 * topic (bundle, inbox) ignore their payload, as the original did. v1 requests are unauthenticated:
 * they see only devices registered over v1, never a v2 device (deleted or not), and one-time
 * prekeys go out within the target's bucket (`prekeyBucket`, shared with v2 fetches).
 */
export class V1Protocol implements RequestProtocol {
  readonly requestFilters = ['x3dh/req/#', 'x3dh/register/#', 'x3dh/msg/#'] as const;
  readonly unavailableReply = errorReply('Service unavailable, retry later', 'unavailable', 503);
  readonly failedReply = errorReply('Internal server error', 'failed', 500);

  constructor(private readonly maxPayloadBytes: number, private readonly prekeyBucket: Bucket) {}

  /** v1 requests name no requester: every v1 device shares one response topic and no identity. */
  requester(): null {
    return null;
  }

  rateLimited({ topic }: InboundRequest): PreparedRequest & { reply: Reply } {
    return {
      operation: wireV1.parseV1Topic(topic)?.operation ?? 'unknown',
      reply: errorReply('Too many requests, retry later', 'limited', 429),
    };
  }

  prepare({ topic, payload }: InboundRequest): PreparedRequest {
    const route = wireV1.parseV1Topic(topic);
    if (route === null) return { operation: 'unknown', reply: errorReply('Unknown topic', 'invalid') };
    const { operation } = route;
    if (payload.length > this.maxPayloadBytes) {
      return { operation, reply: errorReply(`Payload too large (at most ${this.maxPayloadBytes} bytes)`, 'invalid') };
    }
    switch (operation) {
      case 'users':
        return { operation, execute: async (sql) => usersReply(await listUsers(sql)) };

      case 'registerIdentity': {
        const request = parseRequest(wireV1.registerIdentityRequest, payload);
        if (!request.ok) return { operation, reply: request.reply };
        const { username, ik_b64: identityKey } = request.value;
        return {
          operation,
          execute: async (sql) => {
            const name = await registerIdentity(sql, username, identityKey);
            return name === null ? errorReply('Username not available', 'refused') : createdReply(name);
          },
        };
      }

      case 'registerBundle': {
        const request = parseRequest(wireV1.registerBundleRequest, payload);
        if (!request.ok) return { operation, reply: request.reply };
        const { username, spk_b64: spk, spk_sig_b64: signature, opks_b64: opks } = request.value;
        return {
          operation,
          execute: async (sql) => (await replaceBundle(sql, username, spk, signature, opks)
            ? bundleCreatedReply()
            : errorReply('User not found', 'refused')),
        };
      }

      case 'bundle': {
        const username = parseUsername(route.username);
        if (!username.ok) return { operation, reply: username.reply };
        return {
          operation,
          execute: async (sql) => {
            const bundle = await takeBundle(sql, username.value, this.prekeyBucket);
            return bundle === null ? errorReply('Bundle not found', 'refused') : bundleReply(bundle);
          },
        };
      }

      case 'initialMessage': {
        const request = parseRequest(wireV1.initialMessageRequest, payload);
        if (!request.ok) return { operation, reply: request.reply };
        const m = request.value;
        return {
          operation,
          execute: async (sql) => (await queueInitialMessage(sql, m.to, {
            sender: m.from, identityKey: m.ik_b64, ephemeralKey: m.ek_b64, oneTimePreKeyId: m.opk_id,
            ciphertext: m.ciphertext_b64, associatedData: m.ad_b64, nonce: m.nonce_b64,
          }) ? deliveredReply() : errorReply('User not found', 'refused')),
        };
      }

      case 'inbox': {
        const username = parseUsername(route.username);
        if (!username.ok) return { operation, reply: username.reply };
        return {
          operation,
          execute: async (sql) => {
            const message = await takeInitialMessage(sql, username.value);
            return message === null ? errorReply('Empty inbox', 'refused', 404) : inboxReply(message);
          },
        };
      }

      case 'chatSend': {
        const request = parseRequest(wireV1.chatSendRequest, payload);
        if (!request.ok) return { operation, reply: request.reply };
        const m = request.value;
        return {
          operation,
          execute: async (sql) => (await queueChatMessage(sql, m.to, m.from, m.ciphertext_b64, m.nonce_b64)
            ? deliveredReply()
            : errorReply('User not found', 'refused')),
        };
      }

      case 'chatFetch': {
        const request = parseRequest(wireV1.chatFetchRequest, payload);
        if (!request.ok) return { operation, reply: request.reply };
        const { to, from } = request.value;
        return { operation, execute: async (sql) => chatMessagesReply(await takeChatMessages(sql, to, from)) };
      }
    }
  }
}
