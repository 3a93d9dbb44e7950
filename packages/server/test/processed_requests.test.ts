import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../src/storage/database.js';
import {
  findProcessedReplies, insertProcessedReplies, isAlreadyRecorded,
} from '../src/storage/queries/processed_request_queries.js';
import { databaseBackends } from './support/database_backends.js';

/**
 * The records that make processing exactly-once: written per batch, more than one INSERT holds
 * when the batch is long, with replies of any text; a digest recorded before fails the whole
 * write, so that its transaction rolls back.
 */

const entry = (reply: string) => ({ digest: randomBytes(32).toString('base64url'), reply });
/** Replies with characters an array literal would have to escape, or that look like its NULL. */
const awkwardReplies = ['{"status":"ok"}', '"\\"{,}\\\\', 'NULL', '', ' spaced ', 'ünïcødé ✓', '\t\n\r'];

for (const backend of databaseBackends('processed')) {
  describe(`processed-request records on ${backend.name}`, () => {
    let database: Database;
    let close: () => Promise<void>;
    before(async () => {
      ({ database, close } = await backend.open({ migrated: true }));
    });
    after(async () => { await close?.(); });

    test('a batch longer than one INSERT holds is recorded whole, replies unchanged', async () => {
      const entries = Array.from({ length: 150 }, (_, i) => entry(`${awkwardReplies[i % awkwardReplies.length]}#${i}`));
      await database.transaction((sql) => insertProcessedReplies(sql, entries));
      const found = await database.transaction((sql) => findProcessedReplies(sql, entries.map((e) => e.digest)));
      assert.equal(found.size, entries.length);
      for (const { digest, reply } of entries) assert.equal(found.get(digest), reply);
    });

    test('a digest recorded before fails the write, and none of its batch is kept', async () => {
      const earlier = entry('first reply');
      await database.transaction((sql) => insertProcessedReplies(sql, [earlier]));
      const batch = [...Array.from({ length: 70 }, () => entry('new')), { digest: earlier.digest, reply: 'second reply' }];
      await assert.rejects(database.transaction((sql) => insertProcessedReplies(sql, batch)), isAlreadyRecorded);
      const found = await database.transaction((sql) => findProcessedReplies(sql, batch.map((e) => e.digest)));
      assert.deepEqual([...found], [[earlier.digest, 'first reply']]);
    });
  });
}
