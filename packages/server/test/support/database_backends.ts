import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from '@x3dh-iot/testkit';
import { createLogger } from '../../src/ops/logger.js';
import type { Database } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import { EmbeddedDatabase } from '../../src/storage/embedded_database.js';
import { PostgresDatabase } from '../../src/storage/postgres_database.js';

/** A store the server runs on, opened fresh for a test: a new database on the shared PostgreSQL, or the embedded cluster in a new directory. */
export interface DatabaseBackend {
  name: string;
  /** With `migrated`, the server's migrations are applied first, as at its start. */
  open(options?: { migrated?: boolean }): Promise<{ database: Database; close(): Promise<void> }>;
}

/** Both stores, named after `stem` (database x3dh_<stem>_..., directory x3dh-<stem>-...). */
export function databaseBackends(stem: string, poolSize = 4): DatabaseBackend[] {
  return [
    {
      name: 'PostgreSQL',
      async open(options) {
        const test = await createTestDatabase(`x3dh_${stem}`);
        const database = new PostgresDatabase({ url: test.url, poolSize, connectTimeoutMs: 10_000 }, createLogger('silent'));
        if (options?.migrated) await migrate(database);
        return { database, close: async () => { await database.close(); await test.drop(); } };
      },
    },
    {
      name: 'embedded PostgreSQL',
      async open(options) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `x3dh-${stem}-`));
        const database = await EmbeddedDatabase.open(dir, { poolSize, connectTimeoutMs: 10_000 }, createLogger('silent'));
        if (options?.migrated) await migrate(database);
        return { database, close: async () => { await database.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
      },
    },
  ];
}
