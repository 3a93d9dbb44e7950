import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../src/ops/logger.js';
import { EmbeddedDatabase } from '../src/storage/embedded_database.js';

/** The user the cluster runs as: `postgres` when the tests run as root. */
function clusterUser(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

const open = (dataDir: string) => EmbeddedDatabase.open(dataDir, { poolSize: 2, connectTimeoutMs: 10_000 }, createLogger('silent'));

describe('embedded PostgreSQL cluster', { timeout: 180_000 }, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-cluster-'));
  let database: EmbeddedDatabase;
  before(async () => { database = await open(dataDir); });
  after(async () => {
    // Already closed when the second test failed to open it again.
    await database?.close().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('commits durably (fsync, synchronous commit, full pages on) and listens on no TCP port', async () => {
    const settings = await database.transaction((sql) => sql.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'listen_addresses') ORDER BY name`));
    assert.deepEqual(settings, [
      { name: 'fsync', setting: 'on' },
      { name: 'full_page_writes', setting: 'on' },
      { name: 'listen_addresses', setting: '' },
      { name: 'synchronous_commit', setting: 'on' },
    ]);
  });

  it('keeps its data across a stop and a start, and starts over a postmaster.pid whose pid is now another program', async () => {
    await database.transaction((sql) => sql.exec('CREATE TABLE kept (value text); INSERT INTO kept VALUES (\'before\')'));
    await database.close();
    // A pid file left by a postmaster that died with the machine; its pid now belongs to another
    // program of the same user (PostgreSQL itself takes a pid it may not signal for stale).
    const other = spawn('sleep', ['60'], { stdio: 'ignore', ...clusterUser() });
    try {
      fs.writeFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), `${other.pid}\n${dataDir}\n`);
      database = await open(dataDir);
      assert.deepEqual(await database.transaction((sql) => sql.query('SELECT value FROM kept')), [{ value: 'before' }]);
    } finally {
      other.kill();
    }
  });
});
