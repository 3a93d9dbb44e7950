import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { handOutBundle } from '../src/domain/bundle_handout.js';
import type { Database } from '../src/storage/database.js';
import type { RequestIdGate } from '../src/storage/queries/request_id_queries.js';
import { insertDevice } from '../src/storage/queries/v2_device_queries.js';
import { databaseBackends } from './support/database_backends.js';

/**
 * The token bucket per (requester, target) of v2 bundle fetches, on the real databases. Transactions
 * take now() at their start, so one that started earlier can find the bucket last written by one
 * that started later: the time between must count as none, not as negative time that takes back
 * tokens (the fifth of five concurrent fetches within the burst was refused).
 */

const BURST = 5;
const INTERVAL_MS = 600_000;

const gate = (device: string): RequestIdGate => ({
  record: { device, requestId: randomBytes(16), signedDigest: randomBytes(32), replyDigest: `v2:${randomBytes(8).toString('hex')}` },
  receivedAt: Date.now(),
  keepSeconds: 60,
});

const backends = databaseBackends('allowance');

for (const backend of backends) {
  describe(`bundle fetch allowance on ${backend.name}`, () => {
    let database: Database;
    let close: () => Promise<void>;
    let requesterId: string;
    let targetId: string;

    before(async () => {
      ({ database, close } = await backend.open({ migrated: true }));
      await database.transaction(async (sql) => {
        requesterId = (await insertDevice(sql, 'requester', randomBytes(32)))!;
        targetId = (await insertDevice(sql, 'target', randomBytes(32)))!;
        await sql.query('UPDATE users SET signed_prekey_id = 1, signed_prekey = $2, signed_prekey_signature = $3 WHERE id = $1::bigint',
          [targetId, randomBytes(32), randomBytes(64)]);
      });
    });
    after(async () => close());

    const fetchBundle = () => database.transaction((sql) =>
      handOutBundle(sql, requesterId, 'target', {
        requester: { burst: BURST, intervalMs: INTERVAL_MS }, target: { burst: 1000, intervalMs: 1 },
      }, 10, gate('requester')));
    /** The bucket as a transaction that started `aheadMs` after now() would have left it. */
    const setBucket = (tokens: number, aheadMs: number) => database.transaction((sql) => sql.query(
      `UPDATE bundle_fetch_allowances SET tokens = $3, updated_at = now() + make_interval(secs => $4)
       WHERE requester_id = $1::bigint AND target_id = $2::bigint`, [requesterId, targetId, tokens, aheadMs / 1000]));

    test('a burst of fetches is allowed, the next one is refused with the wait for one token', async () => {
      for (let i = 0; i < BURST; i += 1) assert.equal((await fetchBundle()).ok, true, `fetch ${i + 1}`);
      const refused = await fetchBundle();
      assert.ok(refused.ok === false && refused.code === 'rate_limited', JSON.stringify(refused));
      assert.ok(refused.retryAfterMs! > INTERVAL_MS - 60_000 && refused.retryAfterMs! <= INTERVAL_MS, String(refused.retryAfterMs));
    });

    test('a bucket written by a transaction that started later still holds its tokens for one that started earlier', async () => {
      await setBucket(1, 2_000);
      assert.equal((await fetchBundle()).ok, true, 'the last token of the burst');
      const refused = await fetchBundle();
      assert.ok(refused.ok === false && refused.code === 'rate_limited');
      assert.ok(refused.retryAfterMs! <= INTERVAL_MS, `at most one interval to wait, got ${refused.retryAfterMs}`);
      const [bucket] = await database.transaction((sql) => sql.query<{ ahead: boolean }>(
        'SELECT updated_at > now() AS ahead FROM bundle_fetch_allowances WHERE requester_id = $1::bigint', [requesterId]));
      assert.equal(bucket!.ahead, true, 'the later time stays: time is never counted twice');
    });
  });
}
