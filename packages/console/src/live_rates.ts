import type { LiveReading } from './types.js';

/**
 * Figures of the live view from two readings of the server's cumulative counters: requests per
 * second by operation, latency quantiles from the histogram's buckets (as Prometheus's
 * histogram_quantile interpolates them) and the mean batch size, over the time between them.
 */

export function requestRates(previous: LiveReading, current: LiveReading): Record<string, number> {
  const seconds = (current.at - previous.at) / 1000;
  const rates: Record<string, number> = {};
  if (seconds <= 0) return rates;
  for (const [operation, count] of Object.entries(current.requests)) {
    rates[operation] = Math.max(0, count - (previous.requests[operation] ?? 0)) / seconds;
  }
  return rates;
}

/** The q-quantile (0..1) in seconds of the requests between the readings; null when there were none. */
export function latencyQuantile(previous: LiveReading, current: LiveReading, q: number): number | null {
  const before = new Map(previous.latency.map(([bound, count]) => [bound, count]));
  const buckets = current.latency.map(([bound, count]) => [bound, count - (before.get(bound) ?? 0)] as const);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      // Above the last finite bound nothing is known but that bound.
      if (bound === null) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket <= 0 ? bound : lowerBound + (bound - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    if (bound !== null) lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

export function meanBatchSize(previous: LiveReading, current: LiveReading): number | null {
  const transactions = current.batches.transactions - previous.batches.transactions;
  return transactions > 0 ? (current.batches.requests - previous.batches.requests) / transactions : null;
}
