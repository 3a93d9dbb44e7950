import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { startV2Postgres, uniqueName, type V2Environment } from './support/v2_environment.js';

/**
 * The request-id replay window (docs/protocol-v2.md section 3.2, checks 3 and 5) on one clock: a
 * request id stays taken as long as any replica's clock could still find the request's time
 * within the skew. A replica whose clock is behind must not accept a request again once the
 * record of its first delivery would have expired on another clock.
 */

const SKEW_SECONDS = 3;

describe('request ids on replicas with skewed clocks, postgresql + mosquitto', { timeout: 60_000 }, () => {
  let env: V2Environment;
  before(async () => {
    env = await startV2Postgres(['--clock-skew', String(SKEW_SECONDS), '--dedupe-retention', '1']);
  });
  after(() => env?.close());

  test('attack: a bundle fetch replayed through a replica whose clock is behind hands out nothing more', async () => {
    const owner = await env.enrolled(uniqueName('owner'), { oneTimePreKeys: 5 });
    const requester = await env.enrolled(uniqueName('requester'));
    const stock = async () => (await env.query<{ n: number }>(
      'SELECT count(*)::integer AS n FROM one_time_prekeys o JOIN users u ON u.id = o.user_id WHERE u.username = $1',
      [owner.name]))[0]!.n;

    const fetch = requester.sign('bundle.fetch', { device: owner.name });
    const sentAt = Date.now();
    const first = await requester.send(fetch);
    assert.ok(first.ok);
    const left = await stock();

    // Past twice the skew since the first delivery: the old record's lifetime, and the purges run.
    await sleep(2 * SKEW_SECONDS * 1000 + 1000);
    let behindMs = 0;
    const behind = await env.addReplica({ clock: () => Date.now() - behindMs });
    await env.server.close();
    // The lagging replica's clock now reads just after the request's own time.
    behindMs = Date.now() - sentAt - 500;
    assert.ok(behind);

    const replay = await requester.send(fetch);
    if (replay.ok) assert.deepEqual(replay, first, 'a replay gets at most the first reply again');
    else assert.equal(replay.error.code, 'replayed_request');
    assert.equal(await stock(), left, 'no further one-time prekey was handed out');
  });
});
