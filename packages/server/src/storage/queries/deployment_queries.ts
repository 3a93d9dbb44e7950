import type { Sql } from '../database.js';

/** One function per SQL statement on the deployment table: the deployment the servers on this store serve. */

export interface DeploymentRow {
  deployment_id: string;
  operator_public_key: Uint8Array;
}

/** Records the deployment id and operator public key a server starts with (the last one started wins). */
export async function recordDeployment(sql: Sql, deploymentId: string, operatorPublicKey: Uint8Array): Promise<void> {
  await sql.query(
    `INSERT INTO deployment (singleton, deployment_id, operator_public_key) VALUES (true, $1, $2)
     ON CONFLICT (singleton) DO UPDATE SET deployment_id = $1, operator_public_key = $2, updated_at = now()`,
    [deploymentId, operatorPublicKey]);
}

/** The deployment recorded by the servers; null before any server with certificates started on this store. */
export async function findDeployment(sql: Sql): Promise<DeploymentRow | null> {
  const rows = await sql.query<DeploymentRow>('SELECT deployment_id, operator_public_key FROM deployment');
  return rows[0] ?? null;
}
