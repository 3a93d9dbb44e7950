import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { freePort } from './free_port.js';
import { stopChild } from './mosquitto.js';

const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
export const hasRabbitMq = existsSync(RABBITMQ_SERVER);

export interface RunningRabbitMq {
  stop(): Promise<void>;
  output(): string;
  /** `rabbitmqctl` for this node, with its name and cookie (command and first arguments). */
  rabbitmqctl: string[];
  /** The environment in which RabbitMQ's own CLI tools (on PATH first) talk to this node. */
  cliEnv: Record<string, string>;
}

let nodes = 0;

/**
 * A private RabbitMQ node (its own name, cookie, data, ports) running a given configuration, beside
 * any system instance. Its conf.d holds the given extra files and one that moves the metrics
 * listener to a free port. Resolves once the node logged `listenerLine` (e.g. `started TCP listener
 * on [::]:<port>`) and completed its start-up: listeners open before definitions (users,
 * permissions) are imported.
 */
export async function startRabbitMq(
  dir: string,
  bundle: { config: string; plugins: string; confD?: string[] },
  listenerLine: string,
): Promise<RunningRabbitMq> {
  for (const sub of ['home', 'conf.d', 'data', 'log']) await mkdir(join(dir, sub), { recursive: true });
  await writeFile(join(dir, 'conf.d', '90-test-ports.conf'), `prometheus.tcp.port = ${await freePort()}\n`);
  for (const file of bundle.confD ?? []) await copyFile(file, join(dir, 'conf.d', basename(file)));
  const nodeName = `x3dhtest${process.pid}n${nodes++}@localhost`;
  const child = spawn(RABBITMQ_SERVER, [], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: join(dir, 'home'),
      RABBITMQ_CONFIG_FILE: bundle.config,
      RABBITMQ_CONFIG_FILES: join(dir, 'conf.d'),
      RABBITMQ_ENABLED_PLUGINS_FILE: bundle.plugins,
      RABBITMQ_MNESIA_BASE: join(dir, 'data'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_LOGS: '-',
      RABBITMQ_NODENAME: nodeName,
      RABBITMQ_DIST_PORT: String(await freePort()),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (chunk) => (log += chunk));
  child.stderr.on('data', (chunk) => (log += chunk));
  const running: RunningRabbitMq = {
    output: () => log,
    stop: () => stopChild(child, 15_000),
    rabbitmqctl: ['env', `HOME=${join(dir, 'home')}`, RABBITMQCTL, '-n', nodeName],
    cliEnv: { HOME: join(dir, 'home'), RABBITMQ_NODENAME: nodeName, PATH: `${dirname(RABBITMQCTL)}:${process.env.PATH ?? ''}` },
  };
  const deadline = Date.now() + 60_000;
  while (!(log.includes(listenerLine) && log.includes('Server startup complete'))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await running.stop();
      throw new Error(`RabbitMQ did not start (${listenerLine}):\n${log.slice(-4000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return running;
}
