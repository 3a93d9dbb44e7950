import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { entryScript } from './entry_script.js';
import { stopChild } from './mosquitto.js';
import { TEST_DEPLOYMENT_ID } from './test_operator.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SERVER_MAIN = fileURLToPath(new URL('../../server/src/main.ts', import.meta.url));

export interface ServerProcessOptions {
  /** Command-line flags of the key server (see `x3dh-server --help`). */
  args?: readonly string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** How long to wait for "key server ready" (default 60 s: a first start on a fresh data directory runs initdb). */
  readyTimeoutMs?: number;
  /** Called with each log line as it comes, also before the server is ready. */
  onLog?: (entry: Record<string, unknown>) => void;
  /** Serve wire protocol v1 too (default true: passes --enable-v1, so v1 tests keep working). */
  v1?: boolean;
}

/** Without a --deployment-id flag or X3DH_DEPLOYMENT_ID, servers are started for TEST_DEPLOYMENT_ID, the test devices' default. */
function withTestDeployment(args: readonly string[], env: Record<string, string> | undefined): readonly string[] {
  if (args.includes('--deployment-id') || env?.X3DH_DEPLOYMENT_ID !== undefined) return args;
  return [...args, '--deployment-id', TEST_DEPLOYMENT_ID];
}

export interface ServerProcess {
  process: ChildProcess;
  /** Port of /healthz, /readyz, /metrics. */
  httpPort: number;
  /** The broker the server serves (its embedded broker's URL when it started one). */
  brokerUrl: string;
  /** The operator public key (base64url) and deployment id the server logged: what its devices are provisioned with. */
  operatorPublicKey: string;
  deploymentId: string;
  /** Every log line printed so far (pino JSON objects). */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | NodeJS.Signals>;
  /** SIGKILL, no chance to clean up: for durability tests. */
  kill(): Promise<void>;
  /** SIGTERM (graceful shutdown), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export class ServerStartError extends Error {
  constructor(message: string, readonly exitCode: number | NodeJS.Signals | null, readonly output: string) {
    super(`${message}\n${output}`);
    this.name = 'ServerStartError';
  }
}

/**
 * Runs the key server (packages/server/src/main.ts) as a child process, as production would, and
 * resolves once it logs that it is ready. Rejects with ServerStartError, carrying its output, if
 * it exits first.
 */
export async function startServer(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  return launch(await entryScript(SERVER_MAIN), options);
}

function launch(script: string, options: ServerProcessOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, [script, ...(options.v1 === false ? [] : ['--enable-v1']), ...withTestDeployment(options.args ?? [], options.env)], {
    cwd: REPO_ROOT,
    env: { ...process.env, X3DH_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let output = '';
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal!)));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ServerStartError('server not ready in time', null, output));
    }, options.readyTimeoutMs ?? 60_000);
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        logs.push(entry);
        options.onLog?.(entry);
        if (entry.msg === 'key server ready') {
          clearTimeout(timer);
          resolve({
            process: child,
            httpPort: entry.httpPort as number,
            brokerUrl: entry.broker as string,
            operatorPublicKey: entry.operatorPublicKey as string,
            deploymentId: entry.deploymentId as string,
            logs,
            exited,
            kill: async () => {
              if (child.exitCode === null && child.signalCode === null) {
                child.kill('SIGKILL');
                await exited;
              }
            },
            stop: (graceMs = 15_000) => stopChild(child, graceMs),
          });
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new ServerStartError('server exited before it was ready', code, output));
    });
  });
}
