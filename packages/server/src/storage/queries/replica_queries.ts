import type { Sql } from '../database.js';

/** One function per SQL statement on server_replicas (the console's count of replicas). */

export async function announceReplica(sql: Sql, clientId: string, startedAt: Date): Promise<void> {
  await sql.query(
    `INSERT INTO server_replicas (client_id, started_at, seen_at) VALUES ($1, $2, now())
     ON CONFLICT (client_id) DO UPDATE SET started_at = EXCLUDED.started_at, seen_at = now()`,
    [clientId, startedAt]);
}

export interface ReplicaRow {
  client_id: string;
  started_at: Date;
  seen_at: Date;
}

/** Replicas heard from within the last `seconds`; older rows are removed by purgeReplicas. */
export async function listLiveReplicas(sql: Sql, seconds: number): Promise<ReplicaRow[]> {
  return sql.query<ReplicaRow>(
    'SELECT client_id, started_at, seen_at FROM server_replicas WHERE seen_at > now() - make_interval(secs => $1) ORDER BY client_id',
    [seconds]);
}

export async function purgeReplicas(sql: Sql): Promise<void> {
  await sql.query("DELETE FROM server_replicas WHERE seen_at < now() - interval '1 day'");
}
