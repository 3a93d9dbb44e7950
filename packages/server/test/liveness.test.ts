import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  startMosquitto, startPrivatePostgres, startServer, type MosquittoBroker, type PrivatePostgres, type ServerProcess,
} from '@x3dh-iot/testkit';

const LIVENESS_TIMEOUT_S = 3;

/**
 * /readyz fails as soon as a connection is down; /healthz only once it has stayed down
 * --liveness-timeout, so that an orchestrator restarts a server whose connection is stuck but not
 * one riding out a short cut. Real broker and database processes are killed and started again.
 */
describe('liveness reflects a connection that does not recover', { timeout: 180_000 }, () => {
  let broker: MosquittoBroker;
  let database: PrivatePostgres;
  let server: ServerProcess;

  const probe = async (path: '/healthz' | '/readyz') => {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}${path}`);
    return { status: response.status, text: await response.text() };
  };
  /** Polls `path` until it answers `status`; returns the seconds that took. */
  const until = async (path: '/healthz' | '/readyz', status: number, timeoutMs = 30_000) => {
    const started = Date.now();
    for (;;) {
      const { status: now, text } = await probe(path);
      if (now === status) return { seconds: (Date.now() - started) / 1000, text };
      if (Date.now() - started > timeoutMs) assert.fail(`${path} still ${now} (${text.trim()}) after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  before(async () => {
    [broker, database] = await Promise.all([startMosquitto({ tls: false }), startPrivatePostgres()]);
    server = await startServer({ args: ['--database-url', database.url, '--broker-url', broker.url, '--http-port', '0',
      '--liveness-timeout', String(LIVENESS_TIMEOUT_S), '--db-connect-timeout', '500'] });
  });
  after(async () => {
    await server?.stop();
    await broker?.stop();
    await database?.destroy();
  });

  test('broker killed: not ready at once, not live after the bound; both again once it is back', async () => {
    const killed = Date.now();
    broker.process.kill('SIGKILL');
    const notReady = await until('/readyz', 503, 5000);
    assert.match(notReady.text, /no broker connection/);
    assert.equal((await probe('/healthz')).status, 200, 'still live within the bound');
    const notLive = await until('/healthz', 503);
    const downFor = (Date.now() - killed) / 1000;
    assert.ok(downFor >= LIVENESS_TIMEOUT_S, `not live after ${downFor} s`);
    assert.ok(downFor < LIVENESS_TIMEOUT_S + 5, `not live only after ${downFor} s`);
    assert.match(notLive.text, /not live: broker connection down for \d+ s/);
    await broker.restart();
    await until('/readyz', 200);
    await until('/healthz', 200, 5000);
  });

  test('a broker cut shorter than the bound never fails liveness', async () => {
    broker.process.kill('SIGKILL');
    await until('/readyz', 503, 5000);
    const statuses = new Set<number>();
    const watching = (async () => {
      for (const end = Date.now() + (LIVENESS_TIMEOUT_S + 2) * 1000; Date.now() < end;) {
        statuses.add((await probe('/healthz')).status);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await broker.restart();
    await watching;
    assert.deepEqual([...statuses], [200]);
    await until('/readyz', 200);
  });

  test('database crashed: not ready at once, not live after the bound; both again once it is back', async () => {
    await database.crash();
    const notReady = await until('/readyz', 503, 5000);
    assert.match(notReady.text, /database unreachable/);
    const notLive = await until('/healthz', 503);
    assert.match(notLive.text, /not live: database unreachable for \d+ s/);
    await database.restart();
    await until('/readyz', 200);
    await until('/healthz', 200, 5000);
  });
});
