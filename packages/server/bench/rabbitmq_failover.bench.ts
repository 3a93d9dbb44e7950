/**
 * RabbitMQ failover benchmark (not a test): a 3-node cluster started from the system's
 * rabbitmq-server, the key server consuming its quorum request queue with the URLs of all three
 * nodes, a chat load published through the cluster. Each node in turn is taken down under load,
 * the queue's leader included, by a clean stop and by SIGKILL, and brought back before the next.
 * Prints the recovery time of each round (from the node's loss to the first acknowledged request
 * sent after it) and what the database holds: acknowledged requests lost and requests applied
 * twice (both must be 0). Exits 1 if either is not.
 *
 *   npm run bench:rabbitmq-failover -- --concurrency 16 --per-phase 500
 */
import { Command, Option } from 'commander';
import { runRabbitMqFailover, type Disruption } from '../test/support/rabbitmq_failover.js';

const options = new Command('rabbitmq-failover.bench')
  .addOption(new Option('--concurrency <n>', 'requesters at once').argParser(Number).default(16))
  .addOption(new Option('--per-phase <n>', 'requests acknowledged before the first disruption and after each').argParser(Number).default(300))
  .addOption(new Option('--rounds <list>', 'disruptions in order, how:which, comma separated (how: stop or kill; which: leader or follower)')
    .default('kill:leader,stop:leader,kill:follower,stop:follower'))
  .parse().opts<{ concurrency: number; perPhase: number; rounds: string }>();

const disruptions = options.rounds.split(',').map((round) => {
  const [how, which] = round.trim().split(':');
  if ((how !== 'stop' && how !== 'kill') || (which !== 'leader' && which !== 'follower')) {
    console.error(`--rounds: "${round}" is not how:which (stop|kill:leader|follower)`);
    process.exit(2);
  }
  return { how, which } as Disruption;
});

const result = await runRabbitMqFailover({ concurrency: options.concurrency, perPhase: options.perPhase, disruptions });
console.log(result.rounds.map((round) =>
  `${round.how.padEnd(4)} ${round.which.padEnd(8)} ${round.node.padEnd(40)} recovery ${round.recoveryMs ?? 'never'} ms`).join('\n'));
console.log([
  `requests acknowledged  ${result.acknowledged} (${result.retries} retries, ${result.refused} refused, ${result.unanswered} unanswered)`,
  `requests lost          ${result.lost}`,
  `duplicates             ${result.duplicates}`,
].join('\n'));
process.exit(result.lost === 0 && result.duplicates === 0 && result.unanswered === 0 ? 0 : 1);
