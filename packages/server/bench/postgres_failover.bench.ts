/**
 * PostgreSQL failover benchmark (not a test): a primary with a synchronous streaming standby, the
 * key server given both (`target_session_attrs=read-write`), a chat load over Mosquitto; the
 * primary is killed (SIGKILL) and the standby promoted under load. Prints the recovery time (from
 * the kill to the first acknowledged request sent after it), the requests acknowledged and
 * retried, and what the new primary holds: acknowledged requests lost and requests applied twice
 * (both must be 0). Exits 1 if either is not.
 *
 *   npm run bench:postgres-failover -- --concurrency 16 --before 1000 --after 1000
 */
import { Command, Option } from 'commander';
import { runPostgresFailover } from '../test/support/postgres_failover.js';

const options = new Command('postgres-failover.bench')
  .addOption(new Option('--concurrency <n>', 'requesters at once').argParser(Number).default(16))
  .addOption(new Option('--before <n>', 'requests acknowledged before the primary is killed').argParser(Number).default(500))
  .addOption(new Option('--after <n>', 'requests acknowledged after the failover').argParser(Number).default(500))
  .parse().opts<{ concurrency: number; before: number; after: number }>();

const result = await runPostgresFailover(options);
console.log([
  `recovery time          ${result.recoveryMs ?? 'never'} ms (kill to first acknowledged request sent after it; promotion took ${result.promoteMs} ms)`,
  `requests acknowledged  ${result.acknowledged} (${result.retries} retries, ${result.refused} refused, ${result.unanswered} unanswered)`,
  `requests lost          ${result.lost}`,
  `duplicates             ${result.duplicates}`,
  `server now on          ${result.hostAfter} (standby ${result.standbyHost})`,
].join('\n'));
process.exit(result.lost === 0 && result.duplicates === 0 && result.unanswered === 0 ? 0 : 1);
