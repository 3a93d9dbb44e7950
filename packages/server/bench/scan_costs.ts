/**
 * Costs of the bounded operations on a generated fleet (not a test): run fleet_generate.ts first,
 * then
 *
 *   npm run fleet:scan-costs                                   (PostgreSQL database x3dh_fleet)
 *   npm run fleet:scan-costs -- --store embedded --data-dir .x3dh/fleet
 *
 * Prints, in milliseconds (median and slowest of --runs, each its own transaction, round trip
 * included): a directory.list page and an operator device-list page at the start, middle and end of
 * the directory; a batch of each purge (over rows it inserts expired, then deletes); the prekey
 * stock count behind the metric (once a minute, see ops/metrics.ts); the store's maintenance; and,
 * for scale, a device lookup and a bundle hand-out of random devices (each hand-out claims one
 * one-time prekey of the fleet).
 * Exit codes: 0 done, 1 failed, 2 bad arguments.
 */
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { testDatabaseServerUrl } from '@x3dh-iot/testkit';
import pg from 'pg';
import { createLogger } from '../src/ops/logger.js';
import { purgeInBatches, PURGE_BATCH_ROWS } from '../src/storage/batched_purge.js';
import type { Database, Sql } from '../src/storage/database.js';
import { EmbeddedDatabase } from '../src/storage/embedded_database.js';
import { PostgresDatabase } from '../src/storage/postgres_database.js';
import { countOneTimePreKeys } from '../src/storage/queries/directory_queries.js';
import { handOutBundleRow } from '../src/storage/queries/fetch_allowance_queries.js';
import { purgeExpiredMessages, purgeSentMessages } from '../src/storage/queries/mailbox_message_queries.js';
import { listDevices } from '../src/storage/queries/operator_device_queries.js';
import { purgeProcessedReplies } from '../src/storage/queries/processed_request_queries.js';
import { purgeRequestIds } from '../src/storage/queries/request_id_queries.js';
import { findDevice, listDeviceNames } from '../src/storage/queries/v2_device_queries.js';

function count(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
    return value;
  };
}

const options = new Command('fleet:scan-costs')
  .description('Print the cost of each bounded operation on a fleet made by fleet:generate')
  .addOption(new Option('--store <kind>', 'postgresql or embedded').choices(['postgresql', 'embedded']).default('postgresql'))
  .addOption(new Option('--database-url <url>', 'PostgreSQL database of the fleet (default: x3dh_fleet on the test server)'))
  .addOption(new Option('--data-dir <dir>', 'embedded store directory of the fleet').default('.x3dh/fleet'))
  .addOption(new Option('--prefix <text>', 'device names are <prefix><number>, as fleet:generate made them').default('fleet-'))
  .addOption(new Option('--runs <n>', 'runs of each measurement').argParser(count(1)).default(20))
  .addOption(new Option('--expired <n>', 'rows made expired in each purged table').argParser(count(1)).default(10_000))
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
  .parse()
  .opts<{ store: 'postgresql' | 'embedded'; databaseUrl?: string; dataDir: string; prefix: string; runs: number; expired: number }>();

function fleetUrl(): string {
  if (options.databaseUrl !== undefined) return options.databaseUrl;
  const server = new URL(testDatabaseServerUrl());
  server.pathname = '/x3dh_fleet';
  return server.toString();
}

/** VACUUM runs outside any transaction: on a connection of its own. */
async function vacuumPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('VACUUM ANALYZE');
  } finally {
    await client.end();
  }
}

/** Milliseconds of each of `runs` calls of `work`. */
async function timed(runs: number, work: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return times;
}

/** Milliseconds of each of `runs` calls of `work`, each in its own transaction. */
async function timings(database: Database, runs: number, work: (sql: Sql, run: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    await database.transaction((sql) => work(sql, run));
    times.push(performance.now() - started);
  }
  return times;
}

function report(name: string, times: readonly number[], note = ''): void {
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  process.stdout.write(`${name.padEnd(52)} median ${median.toFixed(2).padStart(9)} ms   max ${sorted.at(-1)!.toFixed(2).padStart(9)} ms` +
    `   (${sorted.length} runs)${note ? `  ${note}` : ''}\n`);
}

/** Makes `rows` rows expired in each table a purge goes through, over the fleet's first devices. */
async function insertExpired(database: Database, rows: number): Promise<void> {
  await database.transaction(async (sql) => {
    await sql.query(
      `INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
       SELECT u.id, u.id, int4send(g), 'session', '\\x00', now() - interval '1 minute'
       FROM (SELECT id FROM users ORDER BY id LIMIT 1000) u CROSS JOIN generate_series(1, $1::integer / 1000) g`, [rows]);
    await sql.query(
      `UPDATE users u SET queued_messages = queued_messages + m.n, queued_bytes = queued_bytes + m.n
       FROM (SELECT recipient_id, count(*)::integer AS n FROM mailbox_messages WHERE expires_at <= now() GROUP BY recipient_id) m
       WHERE u.id = m.recipient_id`);
    await sql.query(
      `INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
       SELECT u.id, int4send(g), g, now() - interval '1 day', now() - interval '1 minute'
       FROM (SELECT id FROM users ORDER BY id LIMIT 1000) u CROSS JOIN generate_series(1, $1::integer / 1000) g`, [rows]);
    await sql.query(
      `INSERT INTO request_ids (device, request_id, signed_digest, reply_digest, received_at)
       SELECT 'scan-costs', int4send(g), '\\x00', 'v2:' || g, now() - interval '1 hour' FROM generate_series(1, $1::integer) g`, [rows]);
    await sql.query(
      `INSERT INTO processed_requests (digest, reply, processed_at)
       SELECT 'scan-costs-' || g, '{}', now() - interval '2 hours' FROM generate_series(1, $1::integer) g`, [rows]);
  });
}

async function main(): Promise<void> {
  const url = options.store === 'postgresql' ? fleetUrl() : undefined;
  const database = url === undefined ? await EmbeddedDatabase.open(options.dataDir, { poolSize: 2, connectTimeoutMs: 10_000 }, createLogger('silent'))
    : new PostgresDatabase({ url, poolSize: 2, connectTimeoutMs: 10_000 }, createLogger('silent'));
  try {
    const fleet = await database.transaction((sql) => sql.query<{ devices: number; middle: string; last: string }>(
      `SELECT count(*)::integer AS devices,
         percentile_disc(0.5) WITHIN GROUP (ORDER BY username) AS middle, max(username) AS last FROM users`));
    const { devices, middle, last } = fleet[0]!;
    if (devices === 0) throw new Error('the store holds no devices: run npm run fleet:generate first');
    process.stdout.write(`store ${options.store}, ${devices} devices\n`);

    for (const [where, after] of [['first', null], ['middle', middle], ['last', last]] as const) {
      report(`directory.list page of 1000 (${where})`, await timings(database, options.runs, (sql) => listDeviceNames(sql, after, 1000)));
    }
    for (const [where, after] of [['first', null], ['middle', middle]] as const) {
      report(`operator device list page of 1000 (${where})`, await timings(database, Math.min(options.runs, 5), (sql) => listDevices(sql, after, 1000)));
    }

    await insertExpired(database, options.expired);
    const purges: [string, (sql: Sql, limit: number) => Promise<number>][] = [
      ['expired messages', purgeExpiredMessages],
      ['send records', purgeSentMessages],
      ['request ids', (sql, limit) => purgeRequestIds(sql, Date.now(), 600, limit)],
      ['processed requests', (sql, limit) => purgeProcessedReplies(sql, 3600, limit)],
    ];
    for (const [name, purge] of purges) {
      const times: number[] = [];
      let started = performance.now();
      const total = await purgeInBatches(database, purge, PURGE_BATCH_ROWS, () => {
        times.push(performance.now() - started);
        started = performance.now();
      });
      report(`purge batch of ${PURGE_BATCH_ROWS}: ${name}`, times.slice(0, -1), `(${total} rows purged in ${times.length} batches)`);
    }

    report('prekey stock count (the metric, once a minute)', await timings(database, Math.min(options.runs, 5), countOneTimePreKeys));
    // The embedded cluster runs autovacuum as any PostgreSQL does; only a reachable URL is vacuumed here.
    if (url !== undefined) report('VACUUM ANALYZE of the database (autovacuum\'s work)', await timed(1, () => vacuumPostgres(url)));

    const names = Array.from({ length: options.runs * 10 }, () => `${options.prefix}${Math.floor(Math.random() * devices)}`);
    report('device lookup by name (random)', await timings(database, names.length, (sql, run) => findDevice(sql, names[run]!)));
    const requester = (await database.transaction((sql) => findDevice(sql, last)))!;
    report('bundle hand-out (random target, one key claimed)', await timings(database, names.length, (sql, run) => handOutBundleRow(
      sql, requester.id, names[run]!, { requester: { burst: 1e9, intervalMs: 1 }, target: { burst: 1e9, intervalMs: 1 } }, 10, {
        record: { device: last, requestId: randomBytes(16), signedDigest: randomBytes(32), replyDigest: `v2:${randomBytes(8).toString('hex')}` },
        receivedAt: Date.now(), keepSeconds: 900,
      })));
  } finally {
    await database.close();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`fleet:scan-costs: ${error.message}\n`);
  process.exit(1);
});
