import type { Database, Sql } from '../../src/storage/database.js';

/** Reading the plans PostgreSQL chooses for the server's statements (see query_plans.test.ts). */

/** The statements a query function issues, with their parameters, without running them. */
export async function statementsOf(call: (sql: Sql) => Promise<unknown>): Promise<{ text: string; params: readonly unknown[] }[]> {
  const statements: { text: string; params: readonly unknown[] }[] = [];
  const recorder: Sql = {
    query: async <Row>(text: string, params: readonly unknown[] = []) => {
      statements.push({ text, params });
      return [{ request_recorded: true }] as Row[];
    },
    exec: async () => {},
  };
  await call(recorder);
  return statements;
}

const literal = (value: unknown): string => {
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof Uint8Array) return `'\\x${Buffer.from(value).toString('hex')}'`;
  if (Array.isArray(value)) return `'{${value.map(String).join(',')}}'`;
  return `'${String(value).replaceAll("'", "''")}'`;
};

export interface PlanNode { 'Node Type': string; 'Relation Name'?: string; 'Index Cond'?: string; 'Index Name'?: string; Plans?: PlanNode[] }

/** The generic plan of a prepared statement, as the server runs it after a few executions. */
export async function genericPlan(database: Database, text: string, params: readonly unknown[]): Promise<PlanNode> {
  return database.transaction(async (sql) => {
    await sql.exec('SET LOCAL plan_cache_mode = force_generic_plan');
    await sql.exec(`PREPARE probe AS ${text}`);
    const rows = await sql.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) EXECUTE probe(${params.map(literal).join(', ')})`);
    await sql.exec('DEALLOCATE probe');
    return rows[0]!['QUERY PLAN'][0].Plan;
  });
}

/** The plan's scans of tables (not the DELETE or INSERT nodes, which name their table too). */
export function* scans(node: PlanNode): Generator<PlanNode> {
  if (node['Relation Name'] !== undefined && node['Node Type'].endsWith('Scan')) yield node;
  for (const child of node.Plans ?? []) yield* scans(child);
}

/** The index conditions under a bitmap heap scan (one, or several under a BitmapOr or BitmapAnd). */
function bitmapConditions(node: PlanNode): string[] {
  if (node['Node Type'] === 'Bitmap Index Scan') return node['Index Cond'] === undefined ? [] : [node['Index Cond']];
  return (node.Plans ?? []).filter((child) => child['Relation Name'] === undefined).flatMap(bitmapConditions);
}

/** The index condition a scan reads its rows by (a bitmap heap scan's is on its bitmap index scans). */
export const indexCondition = (scan: PlanNode): string | undefined =>
  scan['Index Cond'] ?? (scan['Node Type'] === 'Bitmap Heap Scan' ? bitmapConditions(scan).join(' OR ') || undefined : undefined);
