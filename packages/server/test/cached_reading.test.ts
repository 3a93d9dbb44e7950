import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CachedReading } from '../src/ops/cached_reading.js';

test('a cached reading reads at most once per maximum age, shares a read in flight, and keeps no failure', async () => {
  let clock = 0;
  let reads = 0;
  let fail = false;
  const reading = new CachedReading(async () => {
    reads += 1;
    if (fail) throw new Error('database unreachable');
    return reads * 10;
  }, 1000, () => clock);

  assert.deepEqual(await Promise.all([reading.get(), reading.get(), reading.get()]), [10, 10, 10]);
  assert.equal(reads, 1, 'concurrent callers share one read');
  clock = 999;
  assert.equal(await reading.get(), 10);
  assert.equal(reads, 1, 'no read within the maximum age');
  clock = 1000;
  fail = true;
  await assert.rejects(reading.get(), /database unreachable/);
  fail = false;
  assert.equal(await reading.get(), 30, 'the failure was not kept: the next caller reads again');
  assert.equal(reads, 3);
});
