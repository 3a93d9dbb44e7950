import type { Registry } from 'prom-client';

/**
 * The figures of the console's live view, read from the server's own Prometheus registry (the
 * same counters and histograms `/metrics` exports), as cumulative totals: the page turns the
 * differences between two readings into rates and quantiles.
 */
export interface LiveFigures {
  /** Milliseconds since the epoch when read. */
  at: number;
  /** Requests handled so far, by operation (all outcomes). */
  requests: Record<string, number>;
  /** Requests handled so far, by outcome. */
  outcomes: Record<string, number>;
  /** Cumulative latency histogram over all operations: [upper bound in seconds, count] (the last bound Infinity as null). */
  latency: [number | null, number][];
  /** Requests committed and transactions, so far. */
  batches: { requests: number; transactions: number };
}

interface Value {
  value: number;
  labels: Record<string, string | number | undefined>;
  metricName?: string;
}

async function values(registry: Registry, name: string): Promise<Value[]> {
  const metric = registry.getSingleMetric(name);
  return metric === undefined ? [] : ((await metric.get()).values as Value[]);
}

export async function readLiveFigures(registry: Registry): Promise<LiveFigures> {
  const requests: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  for (const { value, labels } of await values(registry, 'x3dh_requests_total')) {
    const operation = String(labels.operation);
    const outcome = String(labels.outcome);
    requests[operation] = (requests[operation] ?? 0) + value;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + value;
  }
  const buckets = new Map<number, number>();
  for (const { value, labels, metricName } of await values(registry, 'x3dh_request_duration_seconds')) {
    if (!metricName?.endsWith('_bucket')) continue;
    const bound = labels.le === '+Inf' ? Infinity : Number(labels.le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  const latency = [...buckets].sort(([a], [b]) => a - b)
    .map(([bound, count]): [number | null, number] => [Number.isFinite(bound) ? bound : null, count]);
  const batch = await values(registry, 'x3dh_transaction_batch_size');
  const total = (suffix: string) => batch.filter((v) => v.metricName?.endsWith(suffix)).reduce((sum, v) => sum + v.value, 0);
  return { at: Date.now(), requests, outcomes, latency, batches: { requests: total('_sum'), transactions: total('_count') } };
}
