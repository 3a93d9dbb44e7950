import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase, startRabbitMqCluster, startServer, type RabbitMqCluster, type ServerProcess, type TestDatabase,
} from '@x3dh-iot/testkit';
import { openAmqpLink } from './amqp_link.js';
import { ChatLoad, registerRecipient, type FailoverFigures } from './failover_load.js';
import { uniqueName } from './v1_fixtures.js';

/** A node taken down under load: stopped or killed (SIGKILL), the request queue's leader or another node. */
export interface Disruption {
  how: 'stop' | 'kill';
  which: 'leader' | 'follower';
}

export interface RabbitMqFailoverOptions {
  concurrency: number;
  /** Requests acknowledged before the first disruption and after each. */
  perPhase: number;
  disruptions: readonly Disruption[];
}

export interface RabbitMqFailoverResult extends Omit<FailoverFigures, 'recoveryMs'> {
  /** Per disruption: the node taken down and the time to the first acknowledged request sent after it. */
  rounds: { how: string; which: string; node: string; recoveryMs: number | undefined }[];
}

const REQUEST_QUEUE = 'x3dh-server.requests';

/** The node that leads the request queue's Raft group. */
async function queueLeader(cluster: RabbitMqCluster): Promise<string> {
  const queues = JSON.parse(await cluster.ctl(['list_queues', 'name', 'leader', '--formatter', 'json'])) as { name: string; leader: string }[];
  const leader = queues.find((queue) => queue.name === REQUEST_QUEUE)?.leader;
  if (leader === undefined) throw new Error(`no leader of ${REQUEST_QUEUE}: ${JSON.stringify(queues)}`);
  return leader;
}

/**
 * A 3-node RabbitMQ cluster, the key server consuming its request quorum queue with every node's
 * URL, a chat load published through the cluster: the nodes are taken down one at a time under
 * load (each brought back before the next), and every acknowledged request must be in the
 * database once.
 */
export async function runRabbitMqFailover(options: RabbitMqFailoverOptions): Promise<RabbitMqFailoverResult> {
  const dir = await mkdtemp(join(tmpdir(), 'x3dh-rabbit-cluster-'));
  let cluster: RabbitMqCluster | undefined;
  let database: TestDatabase | undefined;
  let server: ServerProcess | undefined;
  let link: Awaited<ReturnType<typeof openAmqpLink>> | undefined;
  try {
    [cluster, database] = await Promise.all([startRabbitMqCluster(dir, 3), createTestDatabase()]);
    const urls = cluster.nodes.map((node) => node.url);
    server = await startServer({ args: ['--amqp-url', urls.join(','), '--database-url', database.url, '--http-port', '0'] });
    link = await openAmqpLink(urls);
    const recipient = uniqueName('recipient');
    await registerRecipient(link, recipient);
    const load = new ChatLoad(link, {
      sender: uniqueName('sender'), recipient, concurrency: options.concurrency, retryAfterMs: 3000, giveUpAfterMs: 120_000,
    });
    load.start();
    await load.acknowledgements(options.perPhase);
    const rounds: RabbitMqFailoverResult['rounds'] = [];
    for (const [index, { how, which }] of options.disruptions.entries()) {
      const leader = await queueLeader(cluster);
      const node = cluster.nodes.find((n) => (which === 'leader' ? n.nodeName === leader : n.nodeName !== leader && n.running))!;
      const at = Date.now();
      await node[how]();
      const leaders = await cluster.ctl(['list_queues', 'name', 'leader', 'members', 'messages', '--formatter', 'json']).catch((e: Error) => e.message);
      await load.acknowledgements(options.perPhase, 120_000).catch((error: Error) => {
        // What the server saw of the broker, to tell a stuck consumer from a stuck requester.
        const seen = server!.logs.filter((entry) => /AMQP|broker|database/.test(String(entry.msg))).slice(-20);
        throw new Error(`${error.message} after ${how} of ${which} ${node.nodeName}; server: ${JSON.stringify(seen)}; ` +
          `requesters: ${link!.events.join('; ')}; queues: ${JSON.stringify(leaders)}`);
      });
      rounds.push({ how, which, node: node.nodeName, recoveryMs: load.recoveryMs(at) });
      // Back before the next disruption, so that the quorum queue keeps its majority.
      if (index < options.disruptions.length - 1) {
        await node.start();
        await cluster.awaitOnline(3);
      }
    }
    await load.stop();
    const figures = await load.verify(database.url, Date.now());
    return {
      acknowledged: figures.acknowledged, retries: figures.retries, refused: figures.refused, unanswered: figures.unanswered,
      lost: figures.lost, duplicates: figures.duplicates, rounds,
    };
  } finally {
    await link?.close();
    await server?.stop();
    await cluster?.destroy();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  }
}
