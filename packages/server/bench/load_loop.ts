/**
 * The measuring loop of the load benchmarks (load.bench.ts, connections.bench.ts): simulated
 * devices each sending their next request once the previous one was answered, latencies per
 * operation, CPU per request by process, and the v2 handshake mix.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { encodeBase64url as b64 } from '@x3dh-iot/protocol';
import { preKeyBatch, type ServerProcess, type V2Response, type V2TestDevice } from '@x3dh-iot/testkit';
import { cpuSecondsByGroup, snapshotCpu, type CpuSnapshot } from './process_cpu.js';

/**
 * One-time prekeys each v2 bench device uploads before the run: enough that no bundle fetch of a
 * run finds the stock low, as in a fleet whose devices refill (v1 firmware holds at most 100,
 * so v1 fetches run out early in a run and then hand out none).
 */
export const V2_PREKEYS_PER_DEVICE = 500;
/**
 * Server flags for the v2 mix: no token per bench device, no rate limit on the bundle fetches and
 * sends it repeats to one peer, room for its prekeys.
 */
export const V2_BENCH_ARGS = ['--open-enrolment', '--fetch-burst', '1000000000', '--fetch-interval', '1', '--send-burst', '1000000000',
  '--prekey-cap', String(V2_PREKEYS_PER_DEVICE)];
/**
 * Both protocols: the per-target bucket of one-time prekeys still takes its token on every fetch, but
 * never runs dry, so that the repeated fetches of a few targets hand out keys as in earlier figures.
 */
export const UNLIMITED_TARGET_ARGS = ['--target-fetch-burst', '1000000000', '--target-fetch-interval', '1'];
/** Each bench device sends hundreds of requests a second: no per-device limit (server, embedded broker). */
export const UNLIMITED_DEVICES = ['--device-request-rate', '1000000000', '--device-request-burst', '1000000000'];

/** Seconds of load before measuring, and measured. */
export interface Timing { warmup: number; seconds: number }

/** A v2 step sends one signed request and says which operation it was (a step may adapt to earlier answers). */
export type V2Step = () => Promise<{ operation: string; response: V2Response }>;
/** One request's operation, and its error reply if it got one. */
export type Outcome = { operation: string; error?: string };

export interface RunResult {
  latencies: Map<string, number[]>;
  errors: Map<string, number>;
  /** CPU seconds per process group during the measured part (null without /proc). */
  cpu: Map<string, number> | null;
}

/** Names the process groups whose CPU time the report shows. */
export const cpuGroups = (pids: Record<string, number | undefined>) => (pid: number, name: string): string =>
  pid === process.pid ? 'load generator' : Object.entries(pids).find(([, known]) => known === pid)?.[0] ??
    (name === 'postgres' ? 'PostgreSQL' : name === 'mosquitto' ? 'Mosquitto' : 'other');


/**
 * Runs `count` devices in a loop for warmup + seconds, each sending its next request once the
 * previous one was answered; returns the latencies (ms) per operation of the measured part, the
 * replies that were errors and the CPU time of the machine's processes meanwhile.
 */
export async function driveLoop(
  timing: Timing, count: number, next: (device: number) => (k: number) => Promise<Outcome>, groupOf: (pid: number, name: string) => string,
): Promise<RunResult> {
  const latencies = new Map<string, number[]>();
  const errors = new Map<string, number>();
  const start = performance.now();
  const measureFrom = start + timing.warmup * 1000;
  const end = measureFrom + timing.seconds * 1000;
  let cpuBefore: CpuSnapshot | null = null;
  const snapshot = setTimeout(() => { cpuBefore = snapshotCpu(); }, measureFrom - start);
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    const send = next(i);
    for (let k = 0; performance.now() < end; k += 1) {
      const sent = performance.now();
      const { operation, error } = await send(k);
      const done = performance.now();
      if (sent < measureFrom || done > end) continue;
      if (!latencies.has(operation)) latencies.set(operation, []);
      latencies.get(operation)!.push(done - sent);
      if (error !== undefined) errors.set(`${operation}: ${error}`, (errors.get(`${operation}: ${error}`) ?? 0) + 1);
    }
  }));
  clearTimeout(snapshot);
  const cpuAfter = snapshotCpu();
  return { latencies, errors, cpu: cpuBefore !== null && cpuAfter !== null ? cpuSecondsByGroup(cpuBefore, cpuAfter, groupOf) : null };
}

export function driveV2(
  timing: Timing, devices: V2TestDevice[], steps: (i: number) => V2Step[], groupOf: (pid: number, name: string) => string,
): Promise<RunResult> {
  return driveLoop(timing, devices.length, (i) => {
    const mine = steps(i);
    return async (k) => {
      const { operation, response } = await mine[k % mine.length]!();
      return { operation, ...(response.ok ? {} : { error: response.error.code }) };
    };
  }, groupOf);
}

export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

export function report(timing: Timing, label: string, result: RunResult): number {
  let total = 0;
  const all: number[] = [];
  console.log(`  ${label}`);
  for (const [operation, values] of result.latencies) {
    values.sort((a, b) => a - b);
    total += values.length;
    all.push(...values);
    console.log(`    ${operation.padEnd(16)} ${(values.length / timing.seconds).toFixed(0).padStart(6)} req/s   ` +
      `p50 ${percentile(values, 0.5).toFixed(2).padStart(6)} ms   p99 ${percentile(values, 0.99).toFixed(2).padStart(6)} ms`);
  }
  all.sort((a, b) => a - b);
  const rate = total / timing.seconds;
  console.log(`    ${'all'.padEnd(16)} ${rate.toFixed(0).padStart(6)} req/s   ` +
    `p50 ${percentile(all, 0.5).toFixed(2).padStart(6)} ms   p99 ${percentile(all, 0.99).toFixed(2).padStart(6)} ms`);
  for (const [error, count] of result.errors) console.log(`    error reply x${count}: ${error}`);
  if (result.cpu !== null && total > 0) {
    const perRequest = [...result.cpu].sort((a, b) => b[1] - a[1]).map(([group, seconds]) => [group, 1e6 * seconds / total] as const);
    const sum = perRequest.reduce((acc, [, us]) => acc + us, 0);
    const busy = 100 * [...result.cpu.values()].reduce((acc, seconds) => acc + seconds, 0) / (timing.seconds * os.cpus().length);
    console.log(`    CPU per request, measured part: ${perRequest.map(([group, us]) => `${group} ${us.toFixed(0)}`).join(', ')} ` +
      `= ${sum.toFixed(0)} µs (cores ${busy.toFixed(0)}% busy)`);
  }
  return rate;
}

/** Reads a metric's value from the server's /metrics. */
export async function metric(server: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  // Summed over label sets (operations).
  return text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

export const SERVER_METRICS = ['process_cpu_seconds_total', 'x3dh_transaction_batch_size_count', 'x3dh_transaction_batch_size_sum',
  'x3dh_request_duration_seconds_sum', 'x3dh_request_duration_seconds_count'];


/**
 * Enrols the bench devices, each with a signed prekey and `preKeys` one-time prekeys, 100 per
 * upload (the most one carries): enough that no bundle fetch of a run finds the stock low.
 */
export async function enrolV2BenchDevices(devices: readonly V2TestDevice[], preKeys: number): Promise<void> {
  await Promise.all(devices.map(async (device) => {
    const responses = [await device.enroll()];
    for (let k = 0; k < preKeys / 100; k += 1) {
      responses.push(await device.request('prekeys.upload', preKeyBatch(device, {
        ...(k === 0 ? { signedPreKeyId: 1 } : {}), firstOneTimePreKeyId: 1 + 100 * k, count: 100,
      }).body));
    }
    for (const response of responses) {
      if (!response.ok) throw new Error(`bench device set-up refused: ${response.error.code} ${response.error.message}`);
    }
  }));
}

/**
 * The v2 handshake mix of device i: bundle.fetch and message.send (x3dh.initial) to the next
 * device, mailbox.fetch, then mailbox.ack of what it fetched (prekeys.status when nothing was).
 */
export function v2MixSteps(devices: readonly V2TestDevice[], names: readonly string[]): (i: number) => V2Step[] {
  const envelope = b64(randomBytes(200));
  return (i) => {
    const device = devices[i]!;
    const peer = names[(i + 1) % names.length]!;
    let fetched: string[] = [];
    const step = async (operation: string, body: unknown) => ({ operation, response: await device.request(operation, body) });
    return [
      () => step('bundle.fetch', { device: peer }),
      () => step('message.send', { to: peer, id: randomBytes(16).toString('base64url'), type: 'x3dh.initial', envelope }),
      async () => {
        const done = await step('mailbox.fetch', { limit: 100 });
        fetched = done.response.ok ? (done.response.result.messages as { id: string }[]).map((m) => m.id) : [];
        return done;
      },
      () => (fetched.length > 0 ? step('mailbox.ack', { ids: fetched }) : step('prekeys.status', {})),
    ];
  };
}
