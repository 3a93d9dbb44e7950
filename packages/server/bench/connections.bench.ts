/**
 * Connection benchmark (not a test): holds many MQTT 5 connections to Mosquitto (TLS 1.3, client
 * certificates required), each subscribed to a device's response and push topics as a v2 device
 * is, while a few active devices run the v2 handshake mix of load.bench.ts against the key server
 * on PostgreSQL: once with 100 devices enrolled, then with a copy of the fleet made by
 * fleet:generate (100,000 devices), in the same run. Prints the broker's and the server's memory
 * per connection, and the mix's rate and p99 at both fleet sizes.
 *
 *   npm run fleet:generate -- --devices 100000         (once: the database x3dh_fleet)
 *   npm run bench:connections -- --connections 10000 --active 32 --seconds 20
 *
 * Certificates: openssl makes one in tens of milliseconds, so --certificates of them (100 by
 * default) are issued and each is shared by connections/certificates connections (each with its
 * own client id): the broker does a full TLS handshake with certificate verification per
 * connection either way, and holds the same per-connection state.
 *
 * Each connection is a file descriptor in this process and in Mosquitto: the open-file limit
 * (ulimit -n) must exceed --connections by a margin (checked at start; as root, raise it with
 * `ulimit -n 65536` in the shell that runs this). Mosquitto gets max_connections for it.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { wireV2 } from '@x3dh-iot/protocol';
import { connectMqtt } from '@x3dh-iot/transport';
import {
  createTestDatabase, startMosquitto, startServer, testDatabaseServerUrl, V2TestDevice, type MosquittoBroker,
} from '@x3dh-iot/testkit';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { createLogger } from '../src/ops/logger.js';
import { migrate } from '../src/storage/migrate.js';
import { PostgresDatabase } from '../src/storage/postgres_database.js';
import { generateBatch, storeBatch } from './fleet_batches.js';
import {
  cpuGroups, driveV2, enrolV2BenchDevices, percentile, report, UNLIMITED_DEVICES, UNLIMITED_TARGET_ARGS, V2_BENCH_ARGS,
  V2_PREKEYS_PER_DEVICE, v2MixSteps,
} from './load_loop.js';

function count(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
    return value;
  };
}

const options = new Command('bench:connections')
  .description('Hold many TLS connections to Mosquitto while v2 devices run the handshake mix at 100 and at the generated fleet size')
  .addOption(new Option('--connections <n>', 'idle device connections held').argParser(count(0)).default(10_000))
  .addOption(new Option('--certificates <n>', 'client certificates issued, shared by the connections').argParser(count(1)).default(100))
  .addOption(new Option('--parallel <n>', 'TLS handshakes in flight while connecting').argParser(count(1)).default(50))
  .addOption(new Option('--active <n>', 'devices running the v2 handshake mix').argParser(count(1)).default(32))
  .addOption(new Option('--seconds <n>', 'measured seconds per mix').argParser(count(1)).default(20))
  .addOption(new Option('--warmup <n>', 'seconds of load before measuring').argParser(count(0)).default(3))
  .addOption(new Option('--fleet-database <name>', 'database made by fleet:generate, copied for the large run').default('x3dh_fleet'))
  .addOption(new Option('--small-fleet <n>', 'devices enrolled for the small run').argParser(count(1)).default(100))
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
  .parse()
  .opts<{
    connections: number; certificates: number; parallel: number; active: number; seconds: number; warmup: number; fleetDatabase: string; smallFleet: number;
  }>();

/** Resident memory of a process, in bytes (Linux /proc). */
function residentBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function openFileLimit(): number {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  return Number(/Max open files\s+(\d+)/.exec(limits)![1]);
}

/** Connects the idle devices, `parallel` handshakes at a time; each subscribes to its response and push topics. */
async function holdConnections(broker: MosquittoBroker, parallel: number): Promise<MqttClient[]> {
  const certificates = broker.certificates!;
  const names = Object.keys(certificates.clients).filter((name) => name.startsWith('sim-'));
  const clients: MqttClient[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < options.connections) {
      const i = next++;
      const files = certificates.clients[names[i % names.length]!]!;
      const name = `idle-${i}`;
      const client = await connectMqtt({ url: broker.url, ca: Buffer.from(certificates.ca), cert: files.cert, key: files.key, clientId: name,
        connectTimeoutMs: 120_000,
      });
      client.on('error', () => {});
      await client.subscribeAsync([wireV2.responseTopic(name), wireV2.pushTopic(name)], { qos: 1 });
      clients.push(client);
      if (clients.length % 1000 === 0) {
        process.stderr.write(`  ${clients.length} connections after ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
      }
    }
  }));
  return clients;
}

async function createDatabaseFrom(template: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: testDatabaseServerUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(testDatabaseServerUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: testDatabaseServerUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Enrolled devices in the store, as the server counts them. */
async function enrolledDevices(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>('SELECT count(*)::integer AS n FROM users')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

interface MixFigures { rate: number; p99: number; devices: number }

/** A server on `databaseUrl`; the active devices enrol and run the mix; the server stops after. */
async function runMix(label: string, broker: MosquittoBroker, databaseUrl: string): Promise<MixFigures> {
  const certificates = broker.certificates!;
  const server = await startServer({
    v1: false,
    args: ['--database-url', databaseUrl, '--broker-url', broker.url, '--broker-ca', certificates.caFile,
      '--broker-cert', certificates.clients['x3dh-server']!.certFile, '--broker-key', certificates.clients['x3dh-server']!.keyFile,
      ...V2_BENCH_ARGS, ...UNLIMITED_TARGET_ARGS, ...UNLIMITED_DEVICES, '--http-port', '0'],
  });
  try {
    const serverBefore = residentBytes(server.process.pid!);
    const run = Date.now().toString(36);
    const names = Array.from({ length: options.active }, (_, i) => `active-${run}-${i}`);
    const active = certificates.clients['sim-0']!;
    const devices = await Promise.all(names.map((name) => V2TestDevice.connect({
      name, brokerUrl: broker.url, ca: Buffer.from(certificates.ca), cert: active.cert, key: active.key, keepReceived: false,
    })));
    try {
      await enrolV2BenchDevices(devices, V2_PREKEYS_PER_DEVICE);
      const devicesEnrolled = await enrolledDevices(databaseUrl);
      console.log(`\n${label}: ${devicesEnrolled} devices enrolled, ${options.active} active, ` +
        `${options.seconds} s measured after ${options.warmup} s warm-up`);
      const result = await driveV2(options, devices, v2MixSteps(devices, names),
        cpuGroups({ 'key server': server.process.pid }));
      const rate = report(options, 'key server, v2 handshake mix', result);
      const all = [...result.latencies.values()].flat().sort((a, b) => a - b);
      const serverAfter = residentBytes(server.process.pid!);
      // Idle connections end at the broker: the server holds state only for devices that send requests.
      console.log(`    key server memory (RSS): ${mib(serverBefore)} before the mix, ${mib(serverAfter)} after`);
      return { rate, p99: percentile(all, 0.99), devices: devicesEnrolled };
    } finally {
      await Promise.all(devices.map((device) => device.close()));
    }
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const limit = openFileLimit();
  if (limit < options.connections + 1000) {
    process.stderr.write(`bench:connections: the open-file limit is ${limit}, too low for ${options.connections} connections: ` +
      `raise it (ulimit -n ${options.connections + 5000}) or pass fewer --connections\n`);
    process.exit(2);
  }
  console.log(`connection benchmark: node ${process.version}, ${os.cpus().length} cores, load average ` +
    `${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, open-file limit ${limit}`);
  const certificateNames = Array.from({ length: options.certificates }, (_, i) => `sim-${i}`);
  let started = performance.now();
  const broker = await startMosquitto({
    tls: true, requireClientCertificate: true, clientNames: [...certificateNames, 'x3dh-server'],
    extraConfig: `max_connections ${options.connections + 1000}`,
  });
  console.log(`Mosquitto (TLS 1.3, client certificates required): ${options.certificates} client certificates issued in ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s, each shared by ${Math.ceil(options.connections / options.certificates)} connections`);
  const small = await createTestDatabase('x3dh_conn_small');
  let largeUrl: string | undefined;
  let clients: MqttClient[] = [];
  try {
    const brokerPid = broker.process.pid!;
    const brokerEmpty = residentBytes(brokerPid);
    const ownEmpty = process.memoryUsage().rss;
    started = performance.now();
    clients = await holdConnections(broker, options.parallel);
    const seconds = (performance.now() - started) / 1000;
    const brokerHeld = residentBytes(brokerPid);
    console.log(`${clients.length} connections held, made in ${seconds.toFixed(1)} s (${(clients.length / seconds).toFixed(0)} TLS handshakes/s)`);
    if (clients.length > 0) {
      console.log(`  Mosquitto memory: ${mib(brokerEmpty)} empty, ${mib(brokerHeld)} with them: ` +
        `${((brokerHeld - brokerEmpty) / clients.length / 1024).toFixed(1)} KiB per connection`);
      console.log(`  this process (the devices' side, mqtt.js): ` +
        `${((process.memoryUsage().rss - ownEmpty) / clients.length / 1024).toFixed(1)} KiB per connection`);
    }

    // The small fleet: the active devices and the rest up to --small-fleet, enrolled through the bulk path.
    const database = new PostgresDatabase({ url: small.url, poolSize: 2, connectTimeoutMs: 10_000 }, createLogger('silent'));
    try {
      await migrate(database);
      await storeBatch(database, generateBatch('filler-', 0, Math.max(0, options.smallFleet - options.active), 50));
    } finally {
      await database.close();
    }
    const atSmall = await runMix('small fleet', broker, small.url);

    started = performance.now();
    largeUrl = await createDatabaseFrom(options.fleetDatabase, 'x3dh_conn_large');
    console.log(`\n(copied ${options.fleetDatabase} in ${((performance.now() - started) / 1000).toFixed(0)} s)`);
    const atLarge = await runMix('generated fleet', broker, largeUrl);

    console.log(`\nsummary (${clients.length} connections held throughout):`);
    console.log(`  v2 mix at ${atSmall.devices} devices: ${atSmall.rate.toFixed(0)} req/s, p99 ${atSmall.p99.toFixed(1)} ms`);
    console.log(`  v2 mix at ${atLarge.devices} devices: ${atLarge.rate.toFixed(0)} req/s, p99 ${atLarge.p99.toFixed(1)} ms`);
    console.log(`  rate at ${atLarge.devices} / rate at ${atSmall.devices}: ${(100 * atLarge.rate / atSmall.rate).toFixed(0)}% ` +
      `(target >= 90%); p99 target < 50 ms`);
    console.log(`  Mosquitto memory now: ${mib(residentBytes(brokerPid))}`);
  } finally {
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => {})));
    await broker.stop();
    await small.drop();
    if (largeUrl !== undefined) await dropDatabase('x3dh_conn_large');
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench:connections: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
