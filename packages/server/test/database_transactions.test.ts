import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../src/storage/database.js';
import { databaseBackends } from './support/database_backends.js';

/**
 * The Database contract both backends keep (each prepares statements once and reuses them): values
 * of every type the server binds come back unchanged; a failing statement, awaited or not, rolls
 * back its whole transaction and reports the database's own error; the same statements then work
 * again in the next transaction.
 */

const backends = databaseBackends('transactions');

const INSERT = 'INSERT INTO items (name, body, counts, keys) VALUES ($1, $2, $3::integer[], $4::bytea[]) RETURNING id::text AS id';
const SELECT = 'SELECT name, body, counts, keys FROM items WHERE name = $1';
const names = async (database: Database) =>
  database.transaction(async (sql) => (await sql.query<{ name: string }>('SELECT name FROM items ORDER BY id')).map((row) => row.name));

for (const backend of backends) {
  describe(`database transactions on ${backend.name}`, () => {
    let database: Database;
    let close: () => Promise<void>;

    before(async () => {
      ({ database, close } = await backend.open());
      await database.transaction((sql) => sql.exec(
        'CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL CONSTRAINT items_name_key UNIQUE, body bytea, counts integer[], keys bytea[])'));
    });
    after(async () => close());

    test('values of every bound type come back unchanged, also from a statement run before', async () => {
      for (const name of ['first', 'second']) {
        const body = Uint8Array.from([0, 1, 0xfe, 0xff, name.length]);
        const keys = [Uint8Array.from([7, 0, 7]), Uint8Array.from([])];
        const [inserted] = await database.transaction((sql) => sql.query<{ id: string }>(INSERT, [name, body, [1, -2, 3], keys]));
        assert.match(inserted!.id, /^\d+$/);
        const [row] = await database.transaction((sql) =>
          sql.query<{ name: string; body: Uint8Array; counts: number[]; keys: Uint8Array[] }>(SELECT, [name]));
        assert.equal(row!.name, name);
        assert.deepEqual([...row!.body], [...body]);
        assert.deepEqual(row!.counts, [1, -2, 3]);
        assert.deepEqual(row!.keys.map((key) => [...key]), keys.map((key) => [...key]));
      }
      const [nulls] = await database.transaction(async (sql) => {
        await sql.query(INSERT, ['third', null, null, null]);
        return sql.query<{ body: unknown; counts: unknown }>(SELECT, ['third']);
      });
      assert.deepEqual(nulls, { name: 'third', body: null, counts: null, keys: null });
    });

    test('a statement that fails rolls back its whole transaction with the database error; the next one works', async () => {
      const before = await names(database);
      await assert.rejects(database.transaction(async (sql) => {
        await sql.query(INSERT, ['kept-only-if-committed', null, null, null]);
        await sql.query(INSERT, ['first', null, null, null]);
      }), (error: { code?: string; constraint?: string }) => error.code === '23505' && error.constraint === 'items_name_key');
      assert.deepEqual(await names(database), before);
      await database.transaction((sql) => sql.query(INSERT, ['kept-only-if-committed', null, null, null]));
      assert.deepEqual(await names(database), [...before, 'kept-only-if-committed']);
    });

    test('a failing statement nobody awaited rolls back its transaction too', async () => {
      const before = await names(database);
      await assert.rejects(database.transaction(async (sql) => {
        await sql.query(INSERT, ['unawaited-neighbour', null, null, null]);
        void sql.query(INSERT, ['first', null, null, null]);
        return 'done';
      }), (error: { code?: string }) => error.code === '23505');
      assert.deepEqual(await names(database), before);
    });

    test('a statement that does not parse fails clearly and changes nothing for the next transaction', async () => {
      await assert.rejects(
        database.transaction((sql) => sql.query('SELEC name FROM items')),
        (error: { code?: string }) => error.code === '42601');
      await assert.rejects(
        database.transaction((sql) => sql.query('SELEC name FROM items')),
        (error: { code?: string }) => error.code === '42601');
      assert.ok((await names(database)).includes('first'));
    });

    test('statements issued together: one fails, the ones behind it do not run, and all of them work in the next transaction', async () => {
      // Run before (prepared on the connection); the count is first issued behind its failure.
      const COUNT = 'SELECT count(*)::integer AS matching FROM items WHERE name = $1 AND body IS NULL';
      await database.transaction((sql) => sql.query(INSERT, ['issued-together', null, null, null]));
      const before = await names(database);
      await assert.rejects(database.transaction(async (sql) => {
        await Promise.all([
          sql.query(INSERT, ['not-kept', null, null, null]),
          sql.query(INSERT, ['issued-together', null, null, null]),
          sql.query(COUNT, ['issued-together']),
        ]);
      }), (error: { code?: string }) => error.code === '23505');
      assert.deepEqual(await names(database), before);
      for (let round = 0; round < 2; round += 1) {
        const [row] = await database.transaction((sql) => sql.query<{ matching: number }>(COUNT, ['issued-together']));
        assert.equal(row!.matching, 1);
      }
    });
  });
}
