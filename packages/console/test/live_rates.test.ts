import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latencyQuantile, meanBatchSize, requestRates } from '../src/live_rates.js';
import type { LiveReading } from '../src/types.js';

/** The live view's arithmetic on two readings of cumulative counters. */

const reading = (at: number, requests: Record<string, number>, latency: [number | null, number][], batches = { requests: 0, transactions: 0 }): LiveReading => ({
  at, requests, outcomes: {}, latency, batches, health: { broker: true, database: true, notReady: null }, replicas: [],
});

test('requests per second by operation, over the time between readings; an operation seen first counts from zero', () => {
  const before = reading(10_000, { 'mailbox.fetch': 100 }, []);
  const after = reading(12_000, { 'mailbox.fetch': 140, enroll: 4 }, []);
  assert.deepEqual(requestRates(before, after), { 'mailbox.fetch': 20, enroll: 2 });
  assert.deepEqual(requestRates(after, after), {});
});

test('latency quantiles interpolate within the bucket of the rank, from the requests between the readings only', () => {
  const before = reading(0, {}, [[0.001, 1000], [0.01, 1000], [0.1, 1000], [null, 1000]]);
  // 100 new requests: 50 at most 1 ms, 40 between 1 and 10 ms, 10 between 10 and 100 ms.
  const after = reading(1000, {}, [[0.001, 1050], [0.01, 1090], [0.1, 1100], [null, 1100]]);
  assert.equal(latencyQuantile(before, after, 0.5), 0.001);
  assert.ok(Math.abs(latencyQuantile(before, after, 0.99)! - (0.01 + 0.09 * 0.9)) < 1e-12);
  assert.equal(latencyQuantile(after, after, 0.5), null, 'no requests: no figure');
  // Beyond the last finite bound only that bound is known.
  const slow = reading(2000, {}, [[0.001, 1050], [0.01, 1090], [0.1, 1100], [null, 1200]]);
  assert.equal(latencyQuantile(after, slow, 0.99), 0.1);
});

test('mean batch size is requests committed per transaction between the readings', () => {
  const before = reading(0, {}, [], { requests: 100, transactions: 50 });
  assert.equal(meanBatchSize(before, reading(1, {}, [], { requests: 160, transactions: 60 })), 6);
  assert.equal(meanBatchSize(before, before), null);
});
