import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome } from '../processing/request_protocol.js';
import { CachedReading } from './cached_reading.js';

/**
 * How old the prekey stock metric may be. Counting every one-time prekey reads the whole table
 * (5 million rows for 100,000 devices with 50 each: see docs/capacity.md), too much for every
 * scrape of every replica; the stock changes slowly next to that.
 */
export const PREKEY_STOCK_MAX_AGE_MS = 60_000;

/** The server's Prometheus metrics, in a registry of its own (several servers may share a process in tests). */
export class ServerMetrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'x3dh_requests_total',
    help: 'Requests handled, by operation and outcome',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly latency = new Histogram({
    name: 'x3dh_request_duration_seconds',
    help: 'Time from receiving a request to publishing its reply',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  private readonly batchSize = new Histogram({
    name: 'x3dh_transaction_batch_size',
    help: 'Requests committed per database transaction',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  constructor(countOneTimePreKeys: () => Promise<number>, stockMaxAgeMs = PREKEY_STOCK_MAX_AGE_MS) {
    const stock = new CachedReading(countOneTimePreKeys, stockMaxAgeMs);
    new Gauge({
      name: 'x3dh_one_time_prekeys',
      help: `One-time prekeys in stock over all users, counted at most every ${stockMaxAgeMs / 1000} s`,
      registers: [this.registry],
      async collect() {
        this.set(await stock.get());
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  observeRequest(operation: string, outcome: Outcome, seconds: number): void {
    this.requests.inc({ operation, outcome });
    this.latency.observe({ operation }, seconds);
  }

  observeBatch(size: number): void {
    this.batchSize.observe(size);
  }
}
