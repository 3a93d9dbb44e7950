/**
 * The embedded defaults on a small machine (not a test): starts the key server as `npm start` does
 * (sources under tsx, embedded broker, embedded PostgreSQL) on a fresh data directory and prints
 * the time until it is ready, its memory idle, its memory once `--devices` devices have enrolled
 * through the broker (v2 enrolment and prekey upload, the devices then gone), and the time and
 * memory of a restart on the same directory. Memory is the resident set (RSS) of the server
 * process and of the PostgreSQL processes; their sum counts PostgreSQL's shared memory once per
 * process, so the proportional set (PSS, shared pages split between the processes) is printed too.
 * Each start also prints the CPU time it took (the server, the programs it waited for such as
 * initdb, and the running PostgreSQL processes), which a loaded machine changes less than the wall
 * time.
 *
 *   npm run bench:embedded -- --devices 1000
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { childProcesses } from '@x3dh-iot/process-lock';
import { enrolV2Device, freePort } from '@x3dh-iot/testkit';

const options = new Command('embedded.bench')
  .addOption(new Option('--devices <n>', 'devices enrolled before the steady-state figure').argParser(Number).default(1000))
  .addOption(new Option('--concurrency <n>', 'enrolments at a time').argParser(Number).default(16))
  .addOption(new Option('--one-time-prekeys <n>', 'one-time prekeys each device uploads').argParser(Number).default(20))
  .addOption(new Option('--settle <s>', 'seconds to wait before reading memory').argParser(Number).default(3))
  .parse().opts<{ devices: number; concurrency: number; oneTimePrekeys: number; settle: number }>();

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Started { child: ChildProcess; ms: number; cpuMs: number; brokerUrl: string }

/** Spawns the server as `npm start` does and resolves when it logs that it is ready. */
function start(dataDir: string, brokerPort: number, httpPort: number): Promise<Started> {
  const began = performance.now();
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN,
    '--data-dir', dataDir, '--embedded-broker-port', String(brokerPort), '--http-port', String(httpPort), '--open-enrolment'], {
    cwd: REPO_ROOT, env: { ...process.env, X3DH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    let ready = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!ready && output.includes('"key server ready"')) {
        ready = true;
        const ms = performance.now() - began;
        resolve({ child, ms, cpuMs: cpuMs(child.pid!, dataDir), brokerUrl: `mqtt://127.0.0.1:${brokerPort}` });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before it was ready:\n${output}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** kB of a /proc/<pid>/status or smaps_rollup field. */
function procKb(file: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(file, 'utf8'));
  return match ? Number(match[1]) : 0;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time of a process in ms: user and system, with `children` also that of the children it waited for (/proc/<pid>/stat fields 14-17). */
function processCpuMs(pid: number, children: boolean): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const ticks = fields[11]! + fields[12]! + (children ? fields[13]! + fields[14]! : 0);
  return ticks * 1000 / CLOCK_TICKS_PER_SECOND;
}

function postgresProcesses(dataDir: string): number[] {
  const postmaster = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return [postmaster, ...childProcesses(postmaster)];
}

/** CPU time so far of the server (with initdb and whatever else it waited for) and of its PostgreSQL. */
function cpuMs(serverPid: number, dataDir: string): number {
  return processCpuMs(serverPid, true) + postgresProcesses(dataDir).reduce((sum, pid) => sum + processCpuMs(pid, false), 0);
}

interface Memory { serverRss: number; postgresRss: number; pss: number; postgresProcesses: number }

function memory(serverPid: number, dataDir: string): Memory {
  const postgres = postgresProcesses(dataDir);
  const all = [serverPid, ...postgres];
  return {
    serverRss: procKb(`/proc/${serverPid}/status`, 'VmRSS'),
    postgresRss: postgres.reduce((sum, pid) => sum + procKb(`/proc/${pid}/status`, 'VmRSS'), 0),
    pss: all.reduce((sum, pid) => sum + procKb(`/proc/${pid}/smaps_rollup`, 'Pss'), 0),
    postgresProcesses: postgres.length,
  };
}

const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const describe = (m: Memory) =>
  `server ${mb(m.serverRss)} + PostgreSQL ${mb(m.postgresRss)} (${m.postgresProcesses} processes) = ${mb(m.serverRss + m.postgresRss)} RSS; PSS ${mb(m.pss)}`;

async function enrolAll(brokerUrl: string): Promise<number> {
  const began = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < options.devices) {
      const index = next++;
      const device = await enrolV2Device({ brokerUrl, name: `bench-${index}`, oneTimePreKeys: options.oneTimePrekeys });
      await device.close();
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return performance.now() - began;
}

const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-embedded-bench-'));
const dataDir = path.join(parent, 'data');
try {
  const [brokerPort, httpPort] = [await freePort(), await freePort()];
  const fresh = await start(dataDir, brokerPort, httpPort);
  console.log(`fresh start (initdb, migrations, broker): ready in ${(fresh.ms / 1000).toFixed(2)} s, ${(fresh.cpuMs / 1000).toFixed(2)} s of CPU`);
  await sleep(options.settle * 1000);
  console.log(`idle after a fresh start: ${describe(memory(fresh.child.pid!, dataDir))}`);
  const enrolMs = await enrolAll(fresh.brokerUrl);
  console.log(`${options.devices} devices enrolled (${options.oneTimePrekeys} one-time prekeys each) in ${(enrolMs / 1000).toFixed(1)} s ` +
    `(${(options.devices / (enrolMs / 1000)).toFixed(0)}/s)`);
  await sleep(options.settle * 1000);
  console.log(`steady state with ${options.devices} devices: ${describe(memory(fresh.child.pid!, dataDir))}`);
  await stop(fresh.child);

  const again = await start(dataDir, brokerPort, httpPort);
  console.log(`restart on the same data directory: ready in ${(again.ms / 1000).toFixed(2)} s, ${(again.cpuMs / 1000).toFixed(2)} s of CPU`);
  await sleep(options.settle * 1000);
  console.log(`idle after the restart: ${describe(memory(again.child.pid!, dataDir))}`);
  await stop(again.child);
  console.log(`machine: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (1, 5, 15 min)`);
} finally {
  fs.rmSync(parent, { recursive: true, force: true });
}
