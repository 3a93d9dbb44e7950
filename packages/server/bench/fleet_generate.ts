/**
 * Fleet generator (not a test): enrols N v2 devices with real keys (an X25519 identity key, a
 * signed prekey signed by it with XEdDSA, K one-time prekeys) into a store through the bulk
 * operator path of the storage layer (multi-row INSERTs, bulk_enrolment_queries.ts), with
 * progress on stderr, and prints the time taken and the store's size per device.
 *
 *   npm run fleet:generate -- --devices 100000 --prekeys 50 --store postgresql
 *   npm run fleet:generate -- --devices 10000 --store embedded --data-dir /tmp/fleet
 *
 * PostgreSQL: into --database-url, or by default a fresh database x3dh_fleet on the test server
 * (X3DH_TEST_DATABASE_URL), dropped first if it exists. Embedded: a fresh embedded PostgreSQL in
 * --data-dir (refused if the directory holds anything). The server's migrations are applied first.
 * --max-seconds stops early (the figures are then for the devices enrolled so far).
 * Exit codes: 0 done, 1 failed, 2 bad arguments.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { testDatabaseServerUrl } from '@x3dh-iot/testkit';
import pg from 'pg';
import { createLogger } from '../src/ops/logger.js';
import type { Database } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { EmbeddedDatabase } from '../src/storage/embedded_database.js';
import { PostgresDatabase } from '../src/storage/postgres_database.js';
import { generateBatch, storeBatch } from './fleet_batches.js';

function count(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
    return value;
  };
}

const options = new Command('fleet:generate')
  .description('Enrol a fleet of v2 devices with real keys into a store, and print time and size per device')
  .addOption(new Option('--devices <n>', 'devices to enrol').argParser(count(1)).default(100_000))
  .addOption(new Option('--prekeys <n>', 'one-time prekeys per device').argParser(count(0)).default(50))
  .addOption(new Option('--store <kind>', 'postgresql or embedded').choices(['postgresql', 'embedded']).default('postgresql'))
  .addOption(new Option('--database-url <url>', 'PostgreSQL database to fill (default: a fresh x3dh_fleet on the test server)'))
  .addOption(new Option('--data-dir <dir>', 'embedded store directory (must be empty or absent)').default('.x3dh/fleet'))
  .addOption(new Option('--prefix <text>', 'device names are <prefix><number>').default('fleet-'))
  .addOption(new Option('--batch <n>', 'devices per transaction').argParser(count(1)).default(500))
  .addOption(new Option('--max-seconds <n>', 'stop after this long, with the devices enrolled so far').argParser(count(1)))
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
  .parse()
  .opts<{
    devices: number; prekeys: number; store: 'postgresql' | 'embedded'; databaseUrl?: string; dataDir: string;
    prefix: string; batch: number; maxSeconds?: number;
  }>();

/** A fresh database x3dh_fleet on the test server; its URL. */
async function freshFleetDatabase(): Promise<string> {
  const serverUrl = testDatabaseServerUrl();
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query('DROP DATABASE IF EXISTS x3dh_fleet WITH (FORCE)');
    await admin.query('CREATE DATABASE x3dh_fleet');
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = '/x3dh_fleet';
  return url.toString();
}

/** Bytes of each table with its indexes and TOAST. */
async function tableBytes(database: Database): Promise<string> {
  const rows = await database.transaction((sql) => sql.query<{ name: string; bytes: string }>(
    `SELECT c.relname AS name, pg_total_relation_size(c.oid)::text AS bytes FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname = current_schema() AND pg_total_relation_size(c.oid) > 65536
     ORDER BY pg_total_relation_size(c.oid) DESC`));
  return rows.map((row) => `${row.name} ${mib(Number(row.bytes))}`).join(', ');
}

async function openStore(): Promise<{ database: Database; size: () => Promise<number>; where: string }> {
  if (options.store === 'postgresql') {
    const url = options.databaseUrl ?? await freshFleetDatabase();
    const database = new PostgresDatabase({ url, poolSize: 2, connectTimeoutMs: 10_000 }, createLogger('silent'));
    const size = async () => Number((await database.transaction((sql) =>
      sql.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes')))[0]!.bytes);
    return { database, size, where: url.replace(/\/\/[^@/]*@/, '//') };
  }
  if (fs.existsSync(options.dataDir) && fs.readdirSync(options.dataDir).length > 0) {
    process.stderr.write(`fleet:generate: ${options.dataDir} is not empty: give an empty or new --data-dir\n`);
    process.exit(2);
  }
  fs.mkdirSync(options.dataDir, { recursive: true });
  const database = await EmbeddedDatabase.open(options.dataDir, { poolSize: 4, connectTimeoutMs: 10_000 }, createLogger('silent'));
  return { database, size: async () => directoryBytes(options.dataDir), where: path.resolve(options.dataDir) };
}

function directoryBytes(dir: string): number {
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    bytes += entry.isDirectory() ? directoryBytes(full) : fs.statSync(full).size;
  }
  return bytes;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const { database, size, where } = await openStore();
  try {
    await migrate(database);
    const emptyBytes = await size();
    process.stderr.write(`enrolling ${options.devices} devices with ${options.prekeys} one-time prekeys each into ${options.store} (${where})\n`);
    const started = performance.now();
    let keySeconds = 0;
    let enrolled = 0;
    let lastReport = started;
    let pending: Promise<void> = Promise.resolve();
    const deadline = options.maxSeconds === undefined ? Infinity : started + options.maxSeconds * 1000;
    while (enrolled < options.devices && performance.now() < deadline) {
      const n = Math.min(options.batch, options.devices - enrolled);
      // Keys of the next batch are made while the store writes the previous one.
      const generating = performance.now();
      const batch = generateBatch(options.prefix, enrolled, n, options.prekeys);
      keySeconds += (performance.now() - generating) / 1000;
      await pending;
      pending = storeBatch(database, batch);
      enrolled += n;
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        const seconds = (lastReport - started) / 1000;
        process.stderr.write(`  ${enrolled} / ${options.devices} devices after ${seconds.toFixed(0)} s (${(enrolled / seconds).toFixed(0)} devices/s)\n`);
      }
    }
    await pending;
    const seconds = (performance.now() - started) / 1000;
    if (enrolled < options.devices) process.stderr.write(`stopped after --max-seconds ${options.maxSeconds}: ${enrolled} devices enrolled\n`);
    const bytes = await size();
    const perDevice = (bytes - emptyBytes) / enrolled;
    process.stdout.write([
      `store                 ${options.store} (${where})`,
      `devices               ${enrolled} (${options.prekeys} one-time prekeys each, ${enrolled * options.prekeys} in all)`,
      `time                  ${seconds.toFixed(1)} s (${(enrolled / seconds).toFixed(0)} devices/s; key generation ${keySeconds.toFixed(1)} s of it)`,
      `store size            ${mib(bytes)} (${mib(emptyBytes)} empty)`,
      `bytes per device      ${perDevice.toFixed(0)} (store growth / devices)`,
      `tables                ${await tableBytes(database)}`,
      '',
    ].join('\n'));
  } finally {
    await database.close();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`fleet:generate: ${error.message}\n`);
  process.exit(1);
});
