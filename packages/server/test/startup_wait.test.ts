import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createTestDatabase, freePort, startMosquitto, startPrivatePostgres, startServer, ServerStartError,
  type MosquittoBroker, type PrivatePostgres, type ServerProcess, type TestDatabase,
} from '@x3dh-iot/testkit';

/**
 * A log watcher for startServer: a promise of the server's second failed attempt to reach `what`,
 * resolved with the port of its HTTP endpoints (which answer while it waits).
 */
function secondAttempt(what: string) {
  let seen: (httpPort: number) => void;
  let httpPort = 0;
  const promise = new Promise<number>((resolve) => { seen = resolve; });
  return {
    promise,
    onLog: (entry: Record<string, unknown>) => {
      if (typeof entry.httpPort === 'number') httpPort = entry.httpPort;
      if (entry.waitingFor === what && entry.attempt === 2) seen(httpPort);
    },
  };
}

/** While the server waits, it is live (not to be restarted) but not ready, and says what it waits for. */
async function assertWaiting(httpPort: number, what: RegExp) {
  assert.equal((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status, 200);
  const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(await ready.text(), what);
}

/** The "not reachable yet" entries the server logged while it waited for `what`. */
function waits(server: ServerProcess, what: string) {
  return server.logs.filter((entry) => entry.waitingFor === what && typeof entry.retryInMs === 'number') as
    { attempt: number; retryInMs: number; reason: string }[];
}

test('a server started before PostgreSQL waits, logging each attempt and its next delay, and is ready once the database is up', { timeout: 120_000 }, async () => {
  const broker = await startMosquitto({ tls: false });
  const port = await freePort();
  let database: PrivatePostgres | undefined;
  let server: ServerProcess | undefined;
  try {
    const waiting = secondAttempt('database');
    const starting = startServer({
      args: ['--database-url', `postgresql://postgres@127.0.0.1:${port}/postgres`, '--broker-url', broker.url, '--http-port', '0', '--startup-wait', '120'],
      readyTimeoutMs: 110_000,
      onLog: waiting.onLog,
    });
    await assertWaiting(await waiting.promise, /starting: waiting for the database/);
    database = await startPrivatePostgres({ port });
    server = await starting;
    const attempts = waits(server, 'database');
    assert.ok(attempts.length >= 2, `${attempts.length} attempts logged`);
    assert.deepEqual(attempts.map((a) => a.attempt), attempts.map((_, i) => i + 1));
    for (const a of attempts) assert.match(a.reason, /ECONNREFUSED|starting up|shutting down/);
    // Delays grow (with jitter: each is 50-100 % of a doubling cap).
    assert.ok(attempts.at(-1)!.retryInMs > attempts[0]!.retryInMs, JSON.stringify(attempts.map((a) => a.retryInMs)));
    assert.ok(server.logs.some((entry) => entry.msg === 'database reachable: start-up continues'));
    assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).status, 200);
  } finally {
    await server?.stop();
    await database?.destroy();
    await broker.stop();
  }
});

test('a server started before its MQTT broker waits for it and is ready once it is up', { timeout: 120_000 }, async () => {
  const database: TestDatabase = await createTestDatabase();
  const port = await freePort();
  let broker: MosquittoBroker | undefined;
  let server: ServerProcess | undefined;
  try {
    const waiting = secondAttempt('broker');
    const starting = startServer({
      args: ['--database-url', database.url, '--broker-url', `mqtt://127.0.0.1:${port}`, '--http-port', '0', '--startup-wait', '120'],
      readyTimeoutMs: 110_000,
      onLog: waiting.onLog,
    });
    await assertWaiting(await waiting.promise, /starting: waiting for the broker/);
    broker = await startMosquitto({ tls: false, port });
    server = await starting;
    const attempts = waits(server, 'broker');
    assert.ok(attempts.length >= 2, `${attempts.length} attempts logged`);
    for (const a of attempts) assert.match(a.reason, /ECONNREFUSED/);
    assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).status, 200);
  } finally {
    await server?.stop();
    await broker?.stop();
    await database.drop();
  }
});

test('past --startup-wait the server exits 5; a refused login or an unverifiable certificate exits at once, without waiting', { timeout: 120_000 }, async () => {
  const broker = await startMosquitto({ tls: true });
  const database: TestDatabase = await createTestDatabase();
  const failure = async (args: string[]) => {
    const started = Date.now();
    const error = await startServer({ args: ['--http-port', '0', ...args], readyTimeoutMs: 100_000 }).then(
      (server) => { void server.stop(); throw new Error('the server started'); },
      (error: unknown) => error as ServerStartError,
    );
    assert.ok(error instanceof ServerStartError, String(error));
    return { code: error.exitCode, output: error.output, seconds: (Date.now() - started) / 1000 };
  };
  try {
    const closedPort = await freePort();
    const bounded = await failure(['--database-url', `postgresql://postgres@127.0.0.1:${closedPort}/postgres`,
      '--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile, '--startup-wait', '3']);
    assert.equal(bounded.code, 5);
    assert.match(bounded.output, /database still not reachable after waiting 3 s \(--startup-wait\): giving up/);
    assert.match(bounded.output, /cannot start: database unreachable: .*ECONNREFUSED/);
    assert.ok(bounded.seconds >= 3, `${bounded.seconds} s`);

    const wrongRole = new URL(database.url);
    wrongRole.username = 'no_such_role';
    const login = await failure(['--database-url', wrongRole.href, '--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile,
      '--startup-wait', '120']);
    assert.notEqual(login.code, 0);
    assert.match(login.output, /cannot start: the database refused the connection: role .{1,2}no_such_role.{1,2} does not exist/);
    assert.doesNotMatch(login.output, /not reachable yet/);

    // No --broker-ca: the test CA's certificate cannot be verified against the system's.
    const certificate = await failure(['--database-url', database.url, '--broker-url', broker.url, '--startup-wait', '120']);
    assert.equal(certificate.code, 5);
    assert.match(certificate.output, /cannot start: .*(self.signed|unable to verify|certificate)/i);
    assert.doesNotMatch(certificate.output, /not reachable yet/);
    for (const quick of [login, certificate]) assert.ok(quick.seconds < 60, `${quick.seconds} s: no wait`);
  } finally {
    await broker.stop();
    await database.drop();
  }
});
