import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasRabbitMq } from '@x3dh-iot/testkit';
import { runRabbitMqFailover } from '../support/rabbitmq_failover.js';

test('3-node RabbitMQ cluster, quorum request queue: its leader killed (SIGKILL), then another node stopped, under load: the server reconnects to another node, no acknowledged request lost or applied twice', {
  skip: hasRabbitMq ? false : 'RabbitMQ is not installed', timeout: 420_000,
}, async (t) => {
  const result = await runRabbitMqFailover({
    concurrency: 8, perPhase: 100, disruptions: [{ how: 'kill', which: 'leader' }, { how: 'stop', which: 'follower' }],
  });
  t.diagnostic(JSON.stringify(result));
  assert.equal(result.lost, 0, 'acknowledged requests missing from the database');
  assert.equal(result.duplicates, 0, 'requests applied twice');
  assert.equal(result.refused, 0);
  assert.equal(result.unanswered, 0);
  assert.ok(result.acknowledged >= 300, `${result.acknowledged} acknowledged`);
  for (const round of result.rounds) assert.ok(round.recoveryMs !== undefined, JSON.stringify(round));
});
