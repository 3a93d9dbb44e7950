import type { Database } from '../storage/database.js';
import { announceReplica, purgeReplicas } from '../storage/queries/replica_queries.js';

/** How often a replica announces itself, and after how long without it the console stops counting it. */
export const REPLICA_ANNOUNCE_SECONDS = 15;
export const REPLICA_SILENCE_SECONDS = 3 * REPLICA_ANNOUNCE_SECONDS;

/** Writes that this replica runs (server_replicas), for the console's count of replicas. */
export async function announcePresence(database: Database, clientId: string, startedAt: Date): Promise<void> {
  await database.transaction(async (sql) => {
    await announceReplica(sql, clientId, startedAt);
    await purgeReplicas(sql);
  });
}
