/**
 * Load benchmark of the key server (not a test): N simulated v1 devices, each running the mix
 * bundle fetch + initial message + inbox read in a loop, one request at a time, against
 *   - PostgreSQL + Mosquitto (TLS 1.3), and
 *   - embedded PGlite + the embedded broker,
 * each with the server in its own process. In the same run, a bare echo responder (fixed reply,
 * no database) on the same broker gives the ceiling of broker plus clients on this machine.
 *
 *   npm run bench:server -- --devices 32 --seconds 10
 *
 * Devices use a Response Topic of their own by default (so the broker delivers each reply once);
 * --shared-response-topic makes them behave like v1 firmware (every device receives every reply).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { wireV1 } from '@x3dh-iot/protocol';
import { connectMqtt, MqttRequester } from '@x3dh-iot/transport';
import {
  createTestDatabase, freePort, startMosquitto, startServer, stopChild, type ServerProcess,
} from '@x3dh-iot/testkit';
import { initialMessage, registerBundle, registerIdentity } from '../test/support/v1_fixtures.js';

const options = new Command('load.bench')
  .addOption(new Option('--devices <n>', 'concurrent simulated devices').argParser(Number).default(32))
  .addOption(new Option('--seconds <n>', 'measured seconds per run').argParser(Number).default(10))
  .addOption(new Option('--warmup <n>', 'seconds of load before measuring').argParser(Number).default(2))
  .addOption(new Option('--backends <list>', 'postgresql, embedded, or both').default('postgresql,embedded'))
  .addOption(new Option('--shared-response-topic', 'every device uses x3dh/resp/me and receives every reply, as v1 firmware does'))
  .parse().opts<{ devices: number; seconds: number; warmup: number; backends: string; sharedResponseTopic?: boolean }>();

const T = wireV1.V1_TOPICS;
const ECHO = fileURLToPath(new URL('./echo_responder.ts', import.meta.url));

interface Target { url: string; ca: Buffer | undefined }

async function connectDevices(target: Target, count: number, tag: string): Promise<MqttRequester[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    const clientId = `bench-${tag}-${i}`;
    const client = await connectMqtt({ url: target.url, ca: target.ca, clientId });
    client.on('error', () => {});
    return MqttRequester.start(client, options.sharedResponseTopic
      ? { responseTopic: T.response, responseFilter: T.responseFilter }
      : { responseTopic: `x3dh/resp/${clientId}` });
  }));
}

async function closeDevices(devices: MqttRequester[]): Promise<void> {
  await Promise.all(devices.map(async (d) => { d.close(); await d.client.endAsync(); }));
}

type Step = { operation: string; topic: string; payload: () => string };

/**
 * Runs every device through its steps in a loop for warmup + seconds; returns the latencies (ms)
 * per operation of the measured part, and the replies that were errors.
 */
async function drive(devices: MqttRequester[], steps: (i: number) => Step[]) {
  const latencies = new Map<string, number[]>();
  const errors = new Map<string, number>();
  const start = performance.now();
  const measureFrom = start + options.warmup * 1000;
  const end = measureFrom + options.seconds * 1000;
  await Promise.all(devices.map(async (device, i) => {
    const mine = steps(i);
    for (let k = 0; performance.now() < end; k += 1) {
      const step = mine[k % mine.length]!;
      const sent = performance.now();
      const reply = await device.request(step.topic, step.payload());
      const done = performance.now();
      if (sent < measureFrom || done > end) continue;
      if (!latencies.has(step.operation)) latencies.set(step.operation, []);
      latencies.get(step.operation)!.push(done - sent);
      const body = reply.payload.toString();
      if (body.startsWith('{"error"')) errors.set(`${step.operation}: ${body}`, (errors.get(`${step.operation}: ${body}`) ?? 0) + 1);
    }
  }));
  return { latencies, errors };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

function report(label: string, result: Awaited<ReturnType<typeof drive>>): number {
  let total = 0;
  const all: number[] = [];
  console.log(`  ${label}`);
  for (const [operation, values] of result.latencies) {
    values.sort((a, b) => a - b);
    total += values.length;
    all.push(...values);
    console.log(`    ${operation.padEnd(16)} ${(values.length / options.seconds).toFixed(0).padStart(6)} req/s   ` +
      `p50 ${percentile(values, 0.5).toFixed(2).padStart(6)} ms   p99 ${percentile(values, 0.99).toFixed(2).padStart(6)} ms`);
  }
  all.sort((a, b) => a - b);
  const rate = total / options.seconds;
  console.log(`    ${'all'.padEnd(16)} ${rate.toFixed(0).padStart(6)} req/s   ` +
    `p50 ${percentile(all, 0.5).toFixed(2).padStart(6)} ms   p99 ${percentile(all, 0.99).toFixed(2).padStart(6)} ms`);
  for (const [error, count] of result.errors) console.log(`    error reply x${count}: ${error}`);
  return rate;
}

async function echoCeiling(target: Target, caFile: string | undefined): Promise<number> {
  const echo = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', ECHO, target.url, ...(caFile ? [caFile] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => echo.stdout!.once('data', () => resolve()));
  const devices = await connectDevices(target, options.devices, 'echo');
  try {
    const payload = initialMessage('echo-peer', 'echo-me');
    const result = await drive(devices, () => ['bundle', 'initialMessage', 'inbox'].map((operation) => ({
      operation, topic: `bench/echo/${operation}`, payload: () => (operation === 'initialMessage' ? payload : '{}'),
    })));
    return report('echo responder (ceiling)', result);
  } finally {
    await closeDevices(devices);
    await stopChild(echo);
  }
}

/** Reads a metric's value from the server's /metrics. */
async function metric(server: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  // Summed over label sets (operations).
  return text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

const SERVER_METRICS = ['process_cpu_seconds_total', 'x3dh_transaction_batch_size_count', 'x3dh_transaction_batch_size_sum',
  'x3dh_request_duration_seconds_sum', 'x3dh_request_duration_seconds_count'];

async function serverMix(target: Target, server: ServerProcess): Promise<number> {
  const devices = await connectDevices(target, options.devices, 'device');
  try {
    const run = Date.now().toString(36);
    const names = devices.map((_, i) => `bench-${run}-${i}`);
    // Every device registers with 100 one-time prekeys (the most one v1 upload carries).
    await Promise.all(devices.map(async (device, i) => {
      await device.request(T.registerIdentity, registerIdentity(names[i]!));
      await device.request(T.registerBundle, registerBundle(names[i]!, Array.from({ length: 100 }, (_, k) => k)));
    }));
    const before = await Promise.all(SERVER_METRICS.map((name) => metric(server, name)));
    const result = await drive(devices, (i) => {
      const peer = names[(i + 1) % names.length]!;
      return [
        { operation: 'bundle', topic: wireV1.bundleTopic(peer), payload: () => '{}' },
        { operation: 'initialMessage', topic: T.initialMessage, payload: () => initialMessage(peer, names[i]!) },
        { operation: 'inbox', topic: wireV1.inboxTopic(names[i]!), payload: () => '{}' },
      ];
    });
    const after = await Promise.all(SERVER_METRICS.map((name) => metric(server, name)));
    const [cpu, batches, batched, busy, answered] = after.map((value, i) => value - before[i]!) as number[];
    const rate = report('key server (bundle fetch + initial message + inbox read)', result);
    console.log(`    server process (whole run incl. warm-up): ${(1e6 * cpu! / answered!).toFixed(0)} µs CPU per request, ` +
      `${(batched! / batches!).toFixed(1)} requests per transaction, ` +
      `${(1000 * busy! / answered!).toFixed(2)} ms mean from receipt to reply`);
    return rate;
  } finally {
    await closeDevices(devices);
  }
}

async function measure(name: string, target: Target, caFile: string | undefined, server: ServerProcess): Promise<void> {
  console.log(`\n${name}: ${options.devices} devices, ${options.seconds} s measured after ${options.warmup} s warm-up`);
  const ceiling = await echoCeiling(target, caFile);
  const rate = await serverMix(target, server);
  console.log(`  key server / echo ceiling: ${(100 * rate / ceiling).toFixed(0)}%`);
}

async function withServer<T>(args: string[], work: (server: ServerProcess) => Promise<T>): Promise<T> {
  const server = await startServer({ args: [...args, '--http-port', '0'], env: { X3DH_LOG_LEVEL: 'info' } });
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

console.log(`load benchmark: node ${process.version}, ${os.cpus().length} cores, ` +
  `${options.sharedResponseTopic ? 'shared v1 response topic' : 'one response topic per device'}`);

if (options.backends.includes('postgresql')) {
  const database = await createTestDatabase('x3dh_bench');
  const broker = await startMosquitto({ tls: true });
  try {
    const target = { url: broker.url, ca: Buffer.from(broker.certificates!.ca) };
    await withServer(['--database-url', database.url, '--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile],
      (server) => measure('PostgreSQL + Mosquitto (TLS 1.3)', target, broker.certificates!.caFile, server));
  } finally {
    await broker.stop();
    await database.drop();
  }
}

if (options.backends.includes('embedded')) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-bench-'));
  try {
    await withServer(['--data-dir', dataDir, '--embedded-broker-port', String(await freePort())],
      (server) => measure('embedded PGlite + embedded broker', { url: server.brokerUrl, ca: undefined }, undefined, server));
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
