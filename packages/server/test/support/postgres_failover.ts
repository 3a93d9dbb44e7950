import pg from 'pg';
import {
  startMosquitto, startPrivatePostgres, startServer, type MosquittoBroker, type PrivatePostgres, type ServerProcess,
} from '@x3dh-iot/testkit';
import { ChatLoad, registerRecipient, type FailoverFigures } from './failover_load.js';
import { openMqttLink } from './mqtt_link.js';
import { uniqueName } from './v1_fixtures.js';

export interface PostgresFailoverOptions {
  /** Requesters at once. */
  concurrency: number;
  /** Requests acknowledged before the primary is killed, and again after the standby took over. */
  before: number;
  after: number;
}

export interface PostgresFailoverResult extends FailoverFigures {
  /** Host the server settled on after the failover, and the standby's. */
  hostAfter: string | undefined;
  standbyHost: string;
  promoteMs: number;
}

/** Resolves once the primary reports a synchronous standby streaming from it. */
async function synchronousStandby(primaryUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: primaryUrl });
  await client.connect();
  try {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      const { rows } = await client.query<{ sync_state: string }>('SELECT sync_state FROM pg_stat_replication');
      if (rows.some((row) => row.sync_state === 'sync')) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('no synchronous standby streaming within 60 s');
  } finally {
    await client.end();
  }
}

/**
 * A PostgreSQL primary with one synchronous streaming standby (every commit acknowledged to the
 * server is on both), the key server given both hosts with target_session_attrs=read-write, and a
 * chat load over Mosquitto. The primary is killed (SIGKILL) under load and the standby promoted;
 * the server must follow it, and every acknowledged request must be in the new primary, once.
 */
export async function runPostgresFailover(options: PostgresFailoverOptions): Promise<PostgresFailoverResult> {
  let primary: PrivatePostgres | undefined;
  let standby: PrivatePostgres | undefined;
  let broker: MosquittoBroker | undefined;
  let server: ServerProcess | undefined;
  let link: Awaited<ReturnType<typeof openMqttLink>> | undefined;
  try {
    primary = await startPrivatePostgres({ settings: { synchronous_standby_names: '*' } });
    standby = await startPrivatePostgres({ standbyOf: primary });
    await synchronousStandby(primary.url);
    broker = await startMosquitto({ tls: false });
    const url = `postgresql://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`;
    server = await startServer({ args: ['--database-url', url, '--broker-url', broker.url, '--http-port', '0', '--db-connect-timeout', '1000'] });
    link = await openMqttLink(broker.url);
    const recipient = uniqueName('recipient');
    await registerRecipient(link, recipient);
    const load = new ChatLoad(link, {
      sender: uniqueName('sender'), recipient, concurrency: options.concurrency, retryAfterMs: 3000, giveUpAfterMs: 60_000,
    });
    load.start();
    await load.acknowledgements(options.before);
    const disruptedAt = Date.now();
    await primary.crash();
    await standby.promote();
    const promoteMs = Date.now() - disruptedAt;
    await load.acknowledgements(options.after);
    await load.stop();
    const figures = await load.verify(standby.url, disruptedAt);
    const chosen = server.logs.filter((entry) => entry.msg === 'database host chosen').at(-1);
    return { ...figures, hostAfter: chosen?.host as string | undefined, standbyHost: `127.0.0.1:${standby.port}`, promoteMs };
  } finally {
    await link?.close();
    await server?.stop();
    await broker?.stop();
    await standby?.destroy();
    await primary?.destroy();
  }
}
