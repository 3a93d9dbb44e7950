import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free_port.js';
import { startRabbitMq, type RunningRabbitMq } from './rabbitmq.js';

const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
const run = promisify(execFile);

export interface RabbitMqClusterNode {
  readonly nodeName: string;
  /** amqp://guest:guest@127.0.0.1:<port> */
  readonly url: string;
  readonly running: boolean;
  /** Graceful stop. */
  stop(): Promise<void>;
  /** SIGKILL to the node's Erlang VM. */
  kill(): Promise<void>;
  /** Starts the stopped or killed node again on its data: it rejoins the cluster. */
  start(): Promise<void>;
}

export interface RabbitMqCluster {
  readonly nodes: readonly RabbitMqClusterNode[];
  /** rabbitmqctl against a running node; returns its standard output. */
  ctl(args: readonly string[]): Promise<string>;
  /** Resolves once `count` nodes are running in the cluster. */
  awaitOnline(count: number): Promise<void>;
  /** Kills every node (SIGKILL: their data is for throwing away; the directories stay in `dir`, the caller's to remove). */
  destroy(): Promise<void>;
}

/**
 * A RabbitMQ cluster of `size` nodes on this machine, beside any system instance: one Erlang
 * cookie, a node name, AMQP port and distribution port of its own per node (free ports), data
 * under `dir`. The nodes find each other by classic configuration (every node listed); the first
 * starts alone, the others then join it. `guest`/`guest` may connect from loopback.
 */
export async function startRabbitMqCluster(dir: string, size = 3): Promise<RabbitMqCluster> {
  const cookie = randomBytes(20).toString('hex').toUpperCase();
  const stem = `x3dhcluster${process.pid}${randomBytes(2).toString('hex')}`;
  const names = Array.from({ length: size }, (_, i) => `${stem}n${i + 1}@localhost`);
  const specs = await Promise.all(names.map(async (nodeName, i) => {
    const nodeDir = join(dir, `node${i + 1}`);
    await mkdir(nodeDir, { recursive: true });
    const port = await freePort();
    const config = join(nodeDir, 'rabbitmq.conf');
    await writeFile(config, [
      `listeners.tcp.default = ${port}`,
      'cluster_formation.peer_discovery_backend = classic_config',
      ...names.map((name, n) => `cluster_formation.classic_config.nodes.${n + 1} = ${name}`),
      'cluster_formation.randomized_startup_delay_range.min = 0',
      'cluster_formation.randomized_startup_delay_range.max = 0',
      '',
    ].join('\n'));
    // The node helper moves the Prometheus listener to a free port, so that plugin must be enabled.
    const plugins = join(nodeDir, 'enabled_plugins');
    await writeFile(plugins, '[rabbitmq_prometheus].\n');
    return { nodeName, nodeDir, port, config, plugins };
  }));
  const running = new Map<string, RunningRabbitMq>();
  const start = async (spec: typeof specs[number]) => {
    running.set(spec.nodeName, await startRabbitMq(spec.nodeDir, { config: spec.config, plugins: spec.plugins },
      `started TCP listener on [::]:${spec.port}`, { nodeName: spec.nodeName, cookie, startTimeoutMs: 180_000 }));
  };
  const ctl = async (args: readonly string[]) => {
    const node = [...running.keys()][0];
    if (node === undefined) throw new Error('no node running');
    const spec = specs.find((s) => s.nodeName === node)!;
    const { stdout } = await run(RABBITMQCTL, ['-n', node, ...args], { env: { PATH: process.env.PATH ?? '', HOME: join(spec.nodeDir, 'home') } });
    return stdout;
  };
  const awaitOnline = async (count: number) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const status = JSON.parse(await ctl(['cluster_status', '--formatter', 'json'])) as { running_nodes: string[] };
      if (status.running_nodes.length >= count) return;
      if (Date.now() > deadline) throw new Error(`only ${status.running_nodes.join(', ')} running after 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const cluster: RabbitMqCluster = {
    nodes: specs.map((spec) => ({
      nodeName: spec.nodeName,
      url: `amqp://guest:guest@127.0.0.1:${spec.port}`,
      get running() { return running.has(spec.nodeName); },
      stop: async () => {
        await running.get(spec.nodeName)?.stop();
        running.delete(spec.nodeName);
      },
      kill: async () => {
        await running.get(spec.nodeName)?.kill();
        running.delete(spec.nodeName);
      },
      start: () => start(spec),
    })),
    ctl,
    awaitOnline,
    destroy: async () => {
      await Promise.all([...running.values()].map((node) => node.kill()));
      running.clear();
    },
  };
  try {
    await start(specs[0]!);
    await Promise.all(specs.slice(1).map(start));
    await awaitOnline(size);
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}
