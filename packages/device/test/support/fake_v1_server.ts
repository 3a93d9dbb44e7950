import { wireV1 } from '@x3dh-iot/protocol';
import type { Requester } from '../../src/index.js';

type Json = Record<string, unknown>;

/**
 * An in-memory v1 key server behind the Requester interface, for unit tests of the device without
 * a broker. It follows wire-v1.md (one OPK handed out per bundle fetch, a queue of initial messages,
 * chat fetches that empty the queue); `tamper` lets a test alter a payload on its way through.
 */
export class FakeV1Server {
  readonly identities = new Map<string, string>();
  readonly bundles = new Map<string, { spk_b64: string; spk_sig_b64: string; opks: { id: number; key: string }[] }>();
  readonly inboxes = new Map<string, Json[]>();
  readonly chats = new Map<string, Json[]>();
  readonly published: { topic: string; payload: string }[] = [];
  tamper: ((topic: string, payload: Json) => Json) | null = null;

  requester(): Requester {
    return {
      request: async (topic, payload) => {
        const text = payload.toString();
        this.published.push({ topic, payload: text });
        const request = this.tamper ? this.tamper(topic, JSON.parse(text)) : JSON.parse(text);
        return { payload: Buffer.from(JSON.stringify(this.handle(topic, request))) };
      },
    };
  }

  private handle(topic: string, request: Json): unknown {
    const route = wireV1.parseV1Topic(topic);
    switch (route?.operation) {
      case 'users': return { users: [...this.identities.keys()] };
      case 'registerIdentity': {
        const { username, ik_b64 } = request as { username: string; ik_b64: string };
        let name = username;
        for (let n = 2; this.identities.has(name) && this.identities.get(name) !== ik_b64; n++) name = `${username}${n}`;
        this.identities.set(name, ik_b64);
        return { status: 'created', username: name };
      }
      case 'registerBundle': {
        const { username, spk_b64, spk_sig_b64, opks_b64 } = request as { username: string; spk_b64: string; spk_sig_b64: string; opks_b64: { id: number; key: string }[] };
        if (!this.identities.has(username)) return { error: 'User not found' };
        this.bundles.set(username, { spk_b64, spk_sig_b64, opks: [...opks_b64] });
        return { status: 'bundle created' };
      }
      case 'bundle': {
        const bundle = this.bundles.get(route.username!);
        if (!bundle) return { error: 'Bundle not found' };
        const opk = bundle.opks.shift();
        return {
          ik_b64: this.identities.get(route.username!), spk_b64: bundle.spk_b64, spk_sig_b64: bundle.spk_sig_b64,
          opk_id: opk ? opk.id : -1, ...(opk ? { opk_b64: opk.key } : {}),
        };
      }
      case 'initialMessage': {
        const { to, from, ...rest } = request;
        this.queue(this.inboxes, String(to)).push({ from_user: from, ...rest });
        return { status: 'delivered' };
      }
      case 'inbox': {
        const message = this.inboxes.get(route.username!)?.shift();
        return message ?? { error: 'Empty inbox', code: 404 };
      }
      case 'chatSend': {
        this.queue(this.chats, `${request.from}>${request.to}`).push({ ciphertext_b64: request.ciphertext_b64, nonce_b64: request.nonce_b64 });
        return { status: 'delivered' };
      }
      case 'chatFetch': {
        const key = `${request.from}>${request.to}`;
        const messages = this.chats.get(key) ?? [];
        this.chats.delete(key);
        return messages;
      }
      default: return { error: 'Unknown topic' };
    }
  }

  private queue(map: Map<string, Json[]>, key: string): Json[] {
    if (!map.has(key)) map.set(key, []);
    return map.get(key)!;
  }
}
