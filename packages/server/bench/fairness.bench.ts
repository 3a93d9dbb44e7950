/**
 * Fairness benchmark of the key server (not a test): one device floods the server at full speed
 * with malformed and mis-signed v2 requests (bench/flooder.ts, its own process) while another
 * device sends one signed `mailbox.fetch` every 100 ms; prints the honest device's latency
 * (p50, p99, max) without and with the flood, how many of its requests went unanswered, and the
 * flood's rate and replies by code. Server in its own process, against
 *   - PostgreSQL + Mosquitto (TLS 1.3), and
 *   - embedded PostgreSQL + the embedded broker.
 *
 *   npm run bench:fairness -- --seconds 10
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import {
  createTestDatabase, freePort, startMosquitto, startServer, stopChild, V2TestDevice, type ServerProcess,
} from '@x3dh-iot/testkit';

const options = new Command('fairness.bench')
  .addOption(new Option('--seconds <n>', 'measured seconds with the flood (and as long without it first)').argParser(Number).default(10))
  .addOption(new Option('--backends <list>', 'postgresql, embedded, or both').default('postgresql,embedded'))
  .addOption(new Option('--window <n>', "the flooder's unacknowledged publishes at a time").argParser(Number).default(1000))
  .addOption(new Option('--interval <ms>', "time between the honest device's requests").argParser(Number).default(100))
  .addOption(new Option('--server-args <flags>', 'extra key server flags, space separated').default(''))
  .addOption(new Option('--broker-config <lines>', 'Mosquitto settings, separated by ";" (default: the limits x3dh-ops broker mosquitto generates)')
    .default('max_inflight_messages 1000'))
  .parse().opts<{ seconds: number; backends: string; window: number; interval: number; serverArgs: string; brokerConfig: string }>();

const FLOODER = fileURLToPath(new URL('./flooder.ts', import.meta.url));
const REPLY_TIMEOUT_MS = 15_000;

interface Target { url: string; ca: string | undefined; caFile: string | undefined; server: ServerProcess; close(): Promise<void> }

const extraArgs = options.serverArgs.split(' ').filter(Boolean);

async function postgresql(): Promise<Target> {
  const database = await createTestDatabase();
  const broker = await startMosquitto({ tls: true, extraConfig: options.brokerConfig.split(';').map((line) => line.trim()).join('\n') });
  const certificates = broker.certificates!;
  const server = await startServer({ v1: false, args: ['--database-url', database.url, '--broker-url', broker.url,
    '--broker-ca', certificates.caFile, '--http-port', '0', '--open-enrolment', ...extraArgs] });
  return {
    url: broker.url, ca: certificates.ca, caFile: certificates.caFile, server,
    close: async () => { await server.stop(); await broker.stop(); await database.drop(); },
  };
}

async function embedded(): Promise<Target> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-fairness-'));
  const server = await startServer({ v1: false, args: ['--data-dir', dataDir, '--embedded-broker-port', String(await freePort()),
    '--http-port', '0', '--open-enrolment', ...extraArgs] });
  return {
    url: server.brokerUrl, ca: undefined, caFile: undefined, server,
    close: async () => { await server.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); },
  };
}

interface Latencies { sent: number; unanswered: number; errors: Record<string, number>; ms: number[] }

/** The honest device: one request every `interval` ms (or as soon as the previous one is answered, if later). */
async function honestRequests(device: V2TestDevice, seconds: number): Promise<Latencies> {
  const result: Latencies = { sent: 0, unanswered: 0, errors: {}, ms: [] };
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const started = performance.now();
    result.sent += 1;
    const response = await device.request('mailbox.fetch', {}).catch(() => null);
    const ms = performance.now() - started;
    if (response === null) result.unanswered += 1;
    else if (!response.ok) result.errors[response.error.code] = (result.errors[response.error.code] ?? 0) + 1;
    else result.ms.push(ms);
    await sleep(Math.max(0, options.interval - ms));
  }
  return result;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

function summary(label: string, latencies: Latencies): string {
  const sorted = [...latencies.ms].sort((a, b) => a - b);
  const errors = Object.keys(latencies.errors).length > 0 ? `, errors ${JSON.stringify(latencies.errors)}` : '';
  return `${label}: ${latencies.sent} requests, ${latencies.unanswered} unanswered${errors}; ` +
    `p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(1)} ms`;
}

async function run(backend: string): Promise<void> {
  const target = backend === 'postgresql' ? await postgresql() : await embedded();
  const devices: V2TestDevice[] = [];
  try {
    const connect = async (name: string) => {
      const device = await V2TestDevice.connect({ brokerUrl: target.url, ca: target.ca, name, timeoutMs: REPLY_TIMEOUT_MS, keepReceived: false });
      devices.push(device);
      const enrolled = await device.enroll();
      if (!enrolled.ok) throw new Error(`enrolment of ${name} refused: ${enrolled.error.code}`);
      return device;
    };
    const honest = await connect('honest');
    // The flooder enrols here, then floods from its own process under its name.
    await (await connect('flooder')).close();

    const quiet = await honestRequests(honest, options.seconds);
    const flooder = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', FLOODER, target.url, target.caFile ?? '-',
      'flooder', String(options.window)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    flooder.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    await new Promise<void>((resolve) => flooder.stdout!.once('data', () => resolve()));
    const flooded = await honestRequests(honest, options.seconds);
    await stopChild(flooder, 10_000);
    const flood = JSON.parse(output.split('\n').find((line) => line.startsWith('{')) ?? '{}') as {
      sent?: number; seconds?: number; replies?: Record<string, number>;
    };

    console.log(`\n${backend}`);
    console.log(summary('  honest device, no flood    ', quiet));
    console.log(summary('  honest device, during flood', flooded));
    console.log(`  flooder: ${flood.sent ?? '?'} requests in ${flood.seconds?.toFixed(1) ?? '?'} s ` +
      `(${flood.sent && flood.seconds ? Math.round(flood.sent / flood.seconds) : '?'}/s), replies ${JSON.stringify(flood.replies ?? {})}`);
  } finally {
    await Promise.all(devices.map((device) => device.close().catch(() => undefined)));
    await target.close();
  }
}

for (const backend of options.backends.split(',').map((name) => name.trim()).filter(Boolean)) await run(backend);
process.exit(0);
