import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { migrate } from '../src/storage/migrate.js';
import { PgliteDatabase } from '../src/storage/pglite_database.js';

/**
 * PGlite has no autovacuum: the rows the server deletes all day (handed-out one-time prekeys,
 * delivered messages, purged records) would stay as dead rows in tables and indexes, and the
 * planner would keep the statistics of the empty tables of the first start; and without a
 * checkpoint the write-ahead log would grow until the server stops. maintain() does what
 * autovacuum and the checkpointer do on PostgreSQL.
 */
test('embedded store: maintain() removes deleted rows, refreshes planner statistics and checkpoints (PGlite has no autovacuum, no checkpointer)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-maintain-'));
  const database = await PgliteDatabase.open(dir);
  t.after(async () => {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await migrate(database);
  await database.transaction((sql) => sql.exec(`
    INSERT INTO users (username, identity_key) VALUES ('device', '\\x00');
    INSERT INTO one_time_prekeys (user_id, key_id, public_key) SELECT 1, g, '\\x00' FROM generate_series(1, 5000) g;`));
  await database.transaction((sql) => sql.exec('DELETE FROM one_time_prekeys WHERE key_id <= 4000'));
  const stats = async () => {
    // Statistics reach the views when a transaction ends after a flush was asked for.
    await database.transaction((sql) => sql.query('SELECT pg_stat_force_next_flush()'));
    const rows = await database.transaction(async (sql) => {
      await sql.query('SELECT pg_stat_clear_snapshot()');
      return sql.query<{ dead: number; analyzed: boolean }>(
        `SELECT n_dead_tup::integer AS dead, last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL AS analyzed
         FROM pg_stat_user_tables WHERE relname = 'one_time_prekeys'`);
    });
    return rows[0]!;
  };
  const analyzedAt = async () => {
    const rows = await database.transaction(async (sql) => {
      await sql.query('SELECT pg_stat_clear_snapshot()');
      return sql.query<{ at: string }>("SELECT last_analyze::text AS at FROM pg_stat_user_tables WHERE relname = 'one_time_prekeys'");
    });
    return rows[0]!;
  };

  const redo = async () => (await database.transaction((sql) => sql.query<{ lsn: string }>(
    'SELECT redo_lsn::text AS lsn FROM pg_control_checkpoint()')))[0]!.lsn;
  const redoBefore = await redo();

  // Nothing cleans up by itself, however long it waits.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.deepEqual(await stats(), { dead: 4000, analyzed: false });
  assert.equal(await redo(), redoBefore, 'no checkpoint meanwhile');

  await database.maintain();
  assert.deepEqual(await stats(), { dead: 0, analyzed: true });
  assert.notEqual(await redo(), redoBefore, 'crash recovery starts from a later checkpoint');
  const [row] = await database.transaction((sql) => sql.query<{ planned: number }>(
    "SELECT reltuples::integer AS planned FROM pg_class WHERE relname = 'one_time_prekeys'"));
  assert.equal(row?.planned, 1000, 'the planner knows how many rows are left');

  // Statistics are refreshed as autovacuum would: not after a few changes, after more than 50 rows and 10%.
  const firstAnalysis = (await analyzedAt()).at;
  await database.transaction((sql) => sql.exec('DELETE FROM one_time_prekeys WHERE key_id <= 4100'));
  await database.maintain();
  assert.equal((await analyzedAt()).at, firstAnalysis);
  await database.transaction((sql) => sql.exec('DELETE FROM one_time_prekeys WHERE key_id <= 4300'));
  await database.maintain();
  assert.notEqual((await analyzedAt()).at, firstAnalysis);
});
