import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPostgresFailover } from '../support/postgres_failover.js';

test('PostgreSQL primary killed under load, standby promoted: the server follows it, no acknowledged request lost or applied twice', { timeout: 180_000 }, async (t) => {
  const result = await runPostgresFailover({ concurrency: 8, before: 100, after: 100 });
  t.diagnostic(JSON.stringify(result));
  assert.equal(result.lost, 0, 'acknowledged requests missing from the new primary');
  assert.equal(result.duplicates, 0, 'requests applied twice');
  assert.equal(result.refused, 0);
  assert.equal(result.unanswered, 0);
  assert.ok(result.acknowledged >= 200, `${result.acknowledged} acknowledged`);
  assert.ok(result.recoveryMs !== undefined);
  assert.equal(result.hostAfter, result.standbyHost, 'the server settled on the promoted standby');
});
