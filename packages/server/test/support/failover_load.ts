import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { wireV1 } from '@x3dh-iot/protocol';

/** How a load reaches the key server: MQTT 5 or AMQP as RabbitMQ 4.x would deliver MQTT. */
export interface RequestLink {
  /** Publishes a request; a retry publishes the same topic, correlation and payload again. Rejects while the link is down. */
  send(topic: string, payload: string, correlation: string): Promise<void>;
  /** Sets the handler of every reply received. */
  onReply(handler: (correlation: string, reply: unknown) => void): void;
}

export interface FailoverFigures {
  /** Requests answered "delivered". */
  acknowledged: number;
  /** Publications beyond each request's first (no reply in time, or "unavailable"). */
  retries: number;
  /** Requests answered something else than "delivered" or "unavailable". */
  refused: number;
  /** Requests still unanswered when the load stopped. */
  unanswered: number;
  /** Acknowledged requests whose message is not in the database. */
  lost: number;
  /** Messages stored more than once. */
  duplicates: number;
  /** From the disruption to the first acknowledgement of a request sent after it. */
  recoveryMs: number | undefined;
}

interface Tracked { nonceHex: string; sentAt: number; acknowledgedAt?: number }

/**
 * v1 chat messages to one recipient, from `concurrency` requesters at once, each retried with the
 * same correlation and payload until it is answered "delivered": a retried request that had
 * already been applied is answered from its record, so a message stored twice is a request
 * applied twice. `verify` checks the database: every acknowledged message present, none twice.
 */
export class ChatLoad {
  private readonly requests = new Map<string, Tracked>();
  private readonly waiting = new Map<string, (reply: unknown) => void>();
  private running = false;
  private workers: Promise<void>[] = [];
  private retries = 0;
  private refused = 0;

  constructor(
    private readonly link: RequestLink,
    private readonly options: { sender: string; recipient: string; concurrency: number; retryAfterMs: number; giveUpAfterMs: number },
  ) {
    link.onReply((correlation, reply) => {
      this.waiting.get(correlation)?.(reply);
    });
  }

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.options.concurrency }, () => this.worker());
  }

  /** Stops sending new requests and waits for those in flight to be answered. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  get acknowledged(): number {
    return [...this.requests.values()].filter((request) => request.acknowledgedAt !== undefined).length;
  }

  /** Resolves once `count` more requests have been acknowledged. */
  async acknowledgements(count: number, timeoutMs = 60_000): Promise<void> {
    const target = this.acknowledged + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acknowledged < target) {
      if (Date.now() > deadline) throw new Error(`only ${this.acknowledged} of ${target} requests acknowledged in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private async worker(): Promise<void> {
    while (this.running) {
      const correlation = randomBytes(8).toString('hex');
      const nonce = randomBytes(24);
      const payload = JSON.stringify({
        from: this.options.sender, to: this.options.recipient,
        ciphertext_b64: randomBytes(32).toString('base64url'), nonce_b64: nonce.toString('base64url'),
      });
      const tracked: Tracked = { nonceHex: nonce.toString('hex'), sentAt: Date.now() };
      this.requests.set(correlation, tracked);
      await this.untilAnswered(correlation, payload, tracked);
    }
  }

  private async untilAnswered(correlation: string, payload: string, tracked: Tracked): Promise<void> {
    const giveUp = Date.now() + this.options.giveUpAfterMs;
    for (let attempt = 0; Date.now() < giveUp; attempt += 1) {
      if (attempt > 0) this.retries += 1;
      const reply = new Promise<unknown>((resolve) => {
        this.waiting.set(correlation, resolve);
        setTimeout(resolve, this.options.retryAfterMs, null);
      });
      const published = this.link.send(wireV1.V1_TOPICS.chatSend, payload, correlation).then(() => true, () => false);
      // A publish the broker has not confirmed (its queue electing a leader) is waited for no
      // longer than a reply: the request is sent again, as a device would.
      const sent = await Promise.race([published, reply.then(() => true)]);
      const answer = sent ? await reply : null;
      this.waiting.delete(correlation);
      if ((answer as { status?: unknown } | null)?.status === 'delivered') {
        tracked.acknowledgedAt = Date.now();
        return;
      }
      if (answer !== null && !JSON.stringify(answer).includes('unavailable')) {
        this.refused += 1;
        return;
      }
      if (!sent || answer !== null) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** From `since` to the first acknowledgement of a request sent after it; undefined if none yet. */
  recoveryMs(since: number): number | undefined {
    const times = [...this.requests.values()]
      .filter((request) => request.sentAt >= since && request.acknowledgedAt !== undefined).map((request) => request.acknowledgedAt!);
    return times.length === 0 ? undefined : Math.min(...times) - since;
  }

  /** Counts, against the database, what was lost and what was applied twice; `disruptedAt` times the recovery. */
  async verify(databaseUrl: string, disruptedAt: number): Promise<FailoverFigures> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    let stored: Map<string, number>;
    try {
      const { rows } = await client.query<{ nonce: string; copies: string }>(
        'SELECT encode(nonce, \'hex\') AS nonce, count(*) AS copies FROM chat_messages WHERE sender = $1 GROUP BY nonce',
        [this.options.sender]);
      stored = new Map(rows.map((row) => [row.nonce, Number(row.copies)]));
    } finally {
      await client.end();
    }
    const requests = [...this.requests.values()];
    const acknowledged = requests.filter((request) => request.acknowledgedAt !== undefined);
    return {
      acknowledged: acknowledged.length,
      retries: this.retries,
      refused: this.refused,
      unanswered: requests.length - acknowledged.length - this.refused,
      lost: acknowledged.filter((request) => !stored.has(request.nonceHex)).length,
      duplicates: [...stored.values()].filter((copies) => copies > 1).length,
      recoveryMs: this.recoveryMs(disruptedAt),
    };
  }
}

/** Registers the recipient of a ChatLoad (chat messages are refused for unknown recipients). */
export async function registerRecipient(link: RequestLink, recipient: string): Promise<void> {
  const correlation = randomBytes(8).toString('hex');
  const replied = new Promise<unknown>((resolve) => link.onReply((c, reply) => { if (c === correlation) resolve(reply); }));
  const identityKey = randomBytes(32);
  identityKey[31]! &= 0x7f;
  await link.send(wireV1.V1_TOPICS.registerIdentity, wireV1.registerIdentityPayload(recipient, identityKey), correlation);
  const reply = await replied;
  if ((reply as { status?: unknown }).status !== 'created') throw new Error(`recipient not registered: ${JSON.stringify(reply)}`);
}
