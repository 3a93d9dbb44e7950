/**
 * Load benchmark of the key server (not a test): N simulated devices, each running a handshake mix in
 * a loop, one request at a time: v1 (bundle fetch + initial message + inbox read) and/or v2 (signed
 * bundle.fetch + message.send + mailbox.fetch + mailbox.ack, rate limits raised by flags), against
 *   - PostgreSQL + Mosquitto (TLS 1.3), and
 *   - embedded PostgreSQL + the embedded broker,
 * each with the server in its own process. In the same run, a bare echo responder (fixed reply,
 * no database) on the same broker gives the ceiling of broker plus clients on this machine.
 *
 *   npm run bench:server -- --devices 32 --seconds 10 --protocol both
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
import { randomBytes } from 'node:crypto';
import { encodeBase64url as b64, generateKeyPair, wireV1, wireV2, xeddsaSigningKey } from '@x3dh-iot/protocol';
import { connectMqtt, MqttRequester } from '@x3dh-iot/transport';
import {
  createTestDatabase, freePort, startMosquitto, startServer, stopChild, V2TestDevice, type ServerProcess, TEST_DEPLOYMENT_ID,
} from '@x3dh-iot/testkit';
import { initialMessage, registerBundle, registerIdentity } from '../test/support/v1_fixtures.js';
import {
  cpuGroups, driveLoop, driveV2, enrolV2BenchDevices, metric, report, SERVER_METRICS, UNLIMITED_DEVICES, UNLIMITED_TARGET_ARGS,
  V2_BENCH_ARGS, V2_PREKEYS_PER_DEVICE, v2MixSteps,
} from './load_loop.js';

const options = new Command('load.bench')
  .addOption(new Option('--devices <n>', 'concurrent simulated devices').argParser(Number).default(32))
  .addOption(new Option('--seconds <n>', 'measured seconds per run').argParser(Number).default(10))
  .addOption(new Option('--warmup <n>', 'seconds of load before measuring').argParser(Number).default(2))
  .addOption(new Option('--backends <list>', 'postgresql, embedded, or both').default('postgresql,embedded'))
  .addOption(new Option('--shared-response-topic', 'every device uses x3dh/resp/me and receives every reply, as v1 firmware does'))
  .addOption(new Option('--protocol <which>', 'the device mix: v1, v2 or both').choices(['v1', 'v2', 'both']).default('both'))
  .addOption(new Option('--rounds <n>', 'runs of every mix, alternating (echo, v1, v2, echo, ...); ratios per round and their median')
    .argParser(Number).default(1))
  .parse().opts<{
    devices: number; seconds: number; warmup: number; backends: string; sharedResponseTopic?: boolean; protocol: 'v1' | 'v2' | 'both';
    rounds: number;
  }>();
const runV1 = options.protocol !== 'v2';
const runV2 = options.protocol !== 'v1';
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

type Step = { operation: string; topic: string; payload: string };
function drive(devices: MqttRequester[], steps: (i: number) => Step[], groupOf: (pid: number, name: string) => string) {
  return driveLoop(options, devices.length, (i) => {
    const mine = steps(i);
    return async (k) => {
      const step = mine[k % mine.length]!;
      const body = (await devices[i]!.request(step.topic, step.payload)).payload.toString();
      return { operation: step.operation, ...(body.startsWith('{"error"') ? { error: body } : {}) };
    };
  }, groupOf);
}

async function echoCeiling(target: Target, caFile: string | undefined): Promise<number> {
  const echo = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', ECHO, target.url, ...(caFile ? [caFile] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => echo.stdout!.once('data', () => resolve()));
  const devices = await connectDevices(target, options.devices, 'echo');
  try {
    const payload = initialMessage('echo-peer', 'echo-me');
    const result = await drive(devices, () => ['bundle', 'initialMessage', 'inbox'].map((operation) => ({
      operation, topic: `bench/echo/${operation}`, payload: operation === 'initialMessage' ? payload : '{}',
    })), cpuGroups({ 'echo responder': echo.pid }));
    return report(options, 'echo responder (ceiling)', result);
  } finally {
    await closeDevices(devices);
    await stopChild(echo);
  }
}

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
      // Built once per device, as the echo mix's payload: making keys is the device's work, not the server's.
      const message = initialMessage(peer, names[i]!);
      return [
        { operation: 'bundle', topic: wireV1.bundleTopic(peer), payload: '{}' },
        { operation: 'initialMessage', topic: T.initialMessage, payload: message },
        { operation: 'inbox', topic: wireV1.inboxTopic(names[i]!), payload: '{}' },
      ];
    }, cpuGroups({ 'key server': server.process.pid }));
    const after = await Promise.all(SERVER_METRICS.map((name) => metric(server, name)));
    const [cpu, batches, batched, busy, answered] = after.map((value, i) => value - before[i]!) as number[];
    const rate = report(options, 'key server (bundle fetch + initial message + inbox read)', result);
    console.log(`    server process (whole run incl. warm-up): ${(1e6 * cpu! / answered!).toFixed(0)} µs CPU per request, ` +
      `${(batched! / batches!).toFixed(1)} requests per transaction, ` +
      `${(1000 * busy! / answered!).toFixed(2)} ms mean from receipt to reply`);
    return rate;
  } finally {
    await closeDevices(devices);
  }
}

/**
 * Microseconds per v2 request signature, made (each simulated device's work, done here by the load
 * generator on the machine's shared cores) and verified (the server's added crypto), in this process.
 */
function signatureCosts(): { sign: number; verify: number } {
  const identity = generateKeyPair();
  const signingKey = xeddsaSigningKey(identity.privateKey);
  const fields = {
    deploymentId: TEST_DEPLOYMENT_ID, operation: 'message.send' as const, device: 'bench-device', requestId: new Uint8Array(randomBytes(16)), timestamp: Date.now(),
    payload: Buffer.from(JSON.stringify({ to: 'bench-peer', id: randomBytes(16).toString('base64url'), type: 'session', envelope: b64(randomBytes(96)) })),
  };
  const signature = wireV2.signRequestWith(signingKey, fields);
  const microseconds = (work: () => void) => {
    const rounds = 2000;
    for (let i = 0; i < 200; i += 1) work();
    const started = performance.now();
    for (let i = 0; i < rounds; i += 1) work();
    return (performance.now() - started) * 1000 / rounds;
  };
  return {
    sign: microseconds(() => wireV2.signRequestWith(signingKey, fields)),
    verify: microseconds(() => {
      if (!wireV2.verifyRequest(identity.publicKey, fields, signature)) throw new Error('signature does not verify');
    }),
  };
}

async function serverMixV2(target: Target, server: ServerProcess): Promise<number> {
  const run = Date.now().toString(36);
  const names = Array.from({ length: options.devices }, (_, i) => `bench2-${run}-${i}`);
  const devices = await Promise.all(names.map((name) => V2TestDevice.connect({ name, brokerUrl: target.url, ca: target.ca, keepReceived: false })));
  try {
    await enrolV2BenchDevices(devices, V2_PREKEYS_PER_DEVICE);
    const before = await Promise.all(SERVER_METRICS.map((name) => metric(server, name)));
    const result = await driveV2(options, devices, v2MixSteps(devices, names), cpuGroups({ 'key server': server.process.pid }));
    const after = await Promise.all(SERVER_METRICS.map((name) => metric(server, name)));
    const [cpu, batches, batched, busy, answered] = after.map((value, i) => value - before[i]!) as number[];
    const rate = report(options, 'key server, v2 (bundle.fetch + message.send + mailbox.fetch + mailbox.ack, signed)', result);
    const cpuPerRequest = 1e6 * cpu! / answered!;
    console.log(`    server process (whole run incl. warm-up): ${cpuPerRequest.toFixed(0)} µs CPU per request, ` +
      `${(batched! / batches!).toFixed(1)} requests per transaction, ` +
      `${(1000 * busy! / answered!).toFixed(2)} ms mean from receipt to reply`);
    const { sign, verify } = signatureCosts();
    console.log(`    request signature verification: ${verify.toFixed(0)} µs per request ` +
      `(${(100 * verify / cpuPerRequest).toFixed(0)}% of the server's CPU per v2 request); ` +
      `signing, the devices' work done by the load generator here: ${sign.toFixed(0)} µs per request`);
    return rate;
  } finally {
    await Promise.all(devices.map((device) => device.close()));
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * Runs the mixes in turn, `--rounds` times. This machine's speed drifts by tens of percent within
 * a minute, so a ratio compares the rates of one round (measured a few seconds apart), and the
 * summary gives each round's ratio and their median rather than a ratio of rates far apart in time.
 */
async function measure(
  name: string, target: Target, caFile: string | undefined, server: ServerProcess, echo = true,
): Promise<void> {
  console.log(`\n${name}: ${options.devices} devices, ${options.seconds} s measured after ${options.warmup} s warm-up`);
  // The embedded broker's topic rules admit only the protocols' topics, so no echo responder there.
  if (!echo) console.log('  echo responder (ceiling): not run (the embedded broker admits only the protocol topics)');
  const ratios = new Map<string, number[]>();
  const note = (label: string, ratio: number) => {
    if (Number.isNaN(ratio)) return;
    console.log(`  ${label}: ${(100 * ratio).toFixed(0)}%`);
    ratios.set(label, [...(ratios.get(label) ?? []), ratio]);
  };
  for (let round = 1; round <= options.rounds; round += 1) {
    if (options.rounds > 1) console.log(`  round ${round} of ${options.rounds}`);
    const ceiling = echo ? await echoCeiling(target, caFile) : NaN;
    const v1Rate = runV1 ? await serverMix(target, server) : NaN;
    note('key server v1 / echo ceiling', v1Rate / ceiling);
    if (runV2) {
      const v2Rate = await serverMixV2(target, server);
      note('key server v2 / echo ceiling', v2Rate / ceiling);
      note('v2 rate / v1 rate', v2Rate / v1Rate);
    }
  }
  if (options.rounds > 1) {
    console.log(`  summary of ${options.rounds} rounds (${name}):`);
    for (const [label, values] of ratios) {
      console.log(`    ${label}: median ${(100 * median(values)).toFixed(0)}% (rounds: ${values.map((v) => `${(100 * v).toFixed(0)}%`).join(', ')})`);
    }
  }
}

async function withServer<T>(args: string[], work: (server: ServerProcess) => Promise<T>): Promise<T> {
  const server = await startServer({ v1: runV1, args: [...args, ...UNLIMITED_TARGET_ARGS, ...(runV2 ? V2_BENCH_ARGS : []), ...UNLIMITED_DEVICES, '--http-port', '0'], env: { X3DH_LOG_LEVEL: 'info' } });
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

console.log(`load benchmark: node ${process.version}, ${os.cpus().length} cores, protocol ${options.protocol}, ` +
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
      (server) => measure('embedded PostgreSQL + embedded broker', { url: server.brokerUrl, ca: undefined }, undefined, server, false));
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
