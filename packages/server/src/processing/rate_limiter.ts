export interface RateLimit {
  /** Requests allowed on average per second. */
  perSecond: number;
  /** Requests allowed at once after a quiet time. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per sender, in this process's memory: cheap enough to run before any check of a
 * request. With several replicas each keeps its own, so a sender whose requests the broker
 * spreads over N replicas gets up to N times the rate. Buckets that refilled completely are
 * forgotten (a full bucket is the same as none), so memory follows the senders active lately.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweepAt = 1024;

  constructor(private readonly limit: RateLimit, private readonly now: () => number = performance.now.bind(performance)) {}

  /** Takes one request's token: null when allowed, else the milliseconds until one is. */
  take(sender: string): number | null {
    const now = this.now();
    const bucket = this.buckets.get(sender);
    const tokens = bucket === undefined ? this.limit.burst : this.refilled(bucket, now);
    if (tokens < 1) {
      if (bucket !== undefined) Object.assign(bucket, { tokens, at: now });
      return Math.ceil(((1 - tokens) / this.limit.perSecond) * 1000);
    }
    if (bucket === undefined) this.buckets.set(sender, { tokens: tokens - 1, at: now });
    else Object.assign(bucket, { tokens: tokens - 1, at: now });
    if (this.buckets.size >= this.sweepAt) this.sweep(now);
    return null;
  }

  private refilled(bucket: Bucket, now: number): number {
    return Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
  }

  private sweep(now: number): void {
    for (const [sender, bucket] of this.buckets) {
      if (this.refilled(bucket, now) >= this.limit.burst) this.buckets.delete(sender);
    }
    this.sweepAt = Math.max(1024, 2 * this.buckets.size);
  }
}
