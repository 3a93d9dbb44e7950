import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ServerConfig } from '../config.js';
import type { HttpRoute } from '../ops/http_endpoints.js';
import { LastSeen } from '../processing/last_seen.js';
import type { Database } from '../storage/database.js';
import { purgeConsoleLoginTokens, purgeConsoleSessions } from '../storage/queries/console_session_queries.js';
import { consoleRoute, type ConsoleHealth } from './console_route.js';
import { announcePresence, REPLICA_ANNOUNCE_SECONDS } from './replica_presence.js';

export interface OperatorConsole {
  /** `/console` on the HTTP port. */
  readonly route: HttpRoute;
  /** Told of each device whose request was served, for its "last seen". */
  served(device: string): void;
  stop(): Promise<void>;
}

/**
 * What the operator console needs from a running server: its route, and the figures it shows
 * that only running replicas know (their presence, when devices were last served), written to the
 * store every REPLICA_ANNOUNCE_SECONDS, when expired console sessions and login tokens go too.
 */
export function startOperatorConsole(
  config: ServerConfig, database: Database, registry: Registry, health: () => Promise<ConsoleHealth>, log: Logger,
): OperatorConsole {
  const lastSeen = new LastSeen();
  const startedAt = new Date();
  let writing: Promise<unknown> = Promise.resolve();
  const write = () => {
    writing = Promise.all([
      announcePresence(database, config.clientId, startedAt),
      lastSeen.flush(database),
      database.transaction(async (sql) => {
        await purgeConsoleSessions(sql);
        await purgeConsoleLoginTokens(sql);
      }),
    ]).catch((error: Error) => log.warn({ err: error }, 'console figures (replica presence, devices last seen) not written'));
  };
  write();
  const timer = setInterval(write, REPLICA_ANNOUNCE_SECONDS * 1000);
  timer.unref();
  return {
    route: consoleRoute({
      database, registry, health, log, https: config.consoleHttps, hosts: config.consoleHosts,
      alerts: { lowOneTimePreKeys: config.preKeyLowThreshold, signedPreKeyMaxAgeDays: config.consoleSignedPreKeyAlertDays },
    }),
    served: (device) => lastSeen.seen(device),
    // No last write: a shutdown with the database gone must not wait for it (up to 15 s of
    // "last seen" are lost; the next request of those devices sets it again).
    stop: async () => {
      clearInterval(timer);
      await writing;
    },
  };
}
