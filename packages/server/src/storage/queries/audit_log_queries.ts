import type { Sql } from '../database.js';

/** One function per SQL statement on operator_audit_log. */

export interface AuditEntry {
  actor: string;
  action: string;
  target: string | null;
  detail: string | null;
}

export interface AuditRow extends AuditEntry {
  id: string;
  at: Date;
}

export async function insertAuditEntry(sql: Sql, entry: AuditEntry): Promise<void> {
  await sql.query('INSERT INTO operator_audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4)',
    [entry.actor, entry.action, entry.target, entry.detail]);
}

/** Newest first, below the id `before` (keyset paging); only entries about `target` when given. */
export async function listAuditEntries(
  sql: Sql, page: { before: string | null; target: string | null; limit: number },
): Promise<AuditRow[]> {
  return sql.query<AuditRow>(
    `SELECT id::text AS id, at, actor, action, target, detail FROM operator_audit_log
     WHERE ($1::bigint IS NULL OR id < $1::bigint) AND ($2::text IS NULL OR target = $2)
     ORDER BY id DESC LIMIT $3`,
    [page.before, page.target, page.limit]);
}
