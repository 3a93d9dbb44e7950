import fs from 'node:fs/promises';
import type { Database } from './database.js';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

/** Any constant shared by every replica: the advisory lock that serializes migrations. */
const MIGRATION_LOCK_KEY = 0x78336468;

/**
 * Applies the versioned plain-SQL migrations (`migrations/NNN_name.sql`, in order) that the
 * database has not seen yet, all in one transaction. Replicas starting at the same moment wait on
 * an advisory lock, so each migration runs exactly once. Returns the versions applied.
 */
export async function migrate(database: Database): Promise<number[]> {
  const files = (await fs.readdir(MIGRATIONS_DIR)).filter((name) => /^\d+_.+\.sql$/.test(name)).sort();
  return database.transaction(async (sql) => {
    await sql.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await sql.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await sql.query<{ version: number }>('SELECT version FROM schema_migrations'))
      .map((row) => row.version));
    const applied: number[] = [];
    for (const file of files) {
      const version = Number.parseInt(file, 10);
      if (done.has(version)) continue;
      // Migrations hold several statements, which only the simple query protocol accepts.
      await sql.exec(await fs.readFile(new URL(file, MIGRATIONS_DIR), 'utf8'));
      await sql.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, file]);
      applied.push(version);
    }
    return applied;
  });
}
