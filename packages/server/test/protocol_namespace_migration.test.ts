import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { test } from 'node:test';
import { databaseBackends } from './support/database_backends.js';

/**
 * Migration 006 gives each stored device the protocol it registered with, from what the store shows
 * (nothing recorded it before): v1 only with v1 traces (a v1 bundle, v1 messages) and none of v2, so
 * that no v2 device, whatever state it is in, ends up reachable by v1 requests.
 */

const MIGRATIONS = new URL('../src/storage/migrations/', import.meta.url);

test('migration 006 counts a stored device as v1 only with v1 traces and none of v2', { timeout: 120_000 }, async () => {
  const { database, close } = await databaseBackends('namespaces')[0]!.open();
  try {
    const files = (await fs.readdir(MIGRATIONS)).filter((name) => /^\d+_.+\.sql$/.test(name)).sort();
    const run = (file: string) => database.transaction(async (sql) => sql.exec(await fs.readFile(new URL(file, MIGRATIONS), 'utf8')));
    for (const file of files.filter((name) => Number.parseInt(name, 10) < 6)) await run(file);
    await database.transaction((sql) => sql.exec(`
      INSERT INTO users (username, identity_key) VALUES ('v1-bundle', '\\x01'), ('v1-keys', '\\x01'), ('v1-inbox', '\\x01'),
        ('v2-fresh', '\\x02'), ('v2-uploaded', '\\x02'), ('v2-deleted', '\\x02'), ('v2-requests', '\\x02'), ('v2-token', '\\x02');
      UPDATE users SET signed_prekey = '\\x03', signed_prekey_signature = '\\x04'
        WHERE username IN ('v1-bundle', 'v2-uploaded', 'v2-requests', 'v2-token');
      UPDATE users SET signed_prekey_id = 1, max_signed_prekey_id = 1 WHERE username = 'v2-uploaded';
      UPDATE users SET deleted_at = now() WHERE username = 'v2-deleted';
      INSERT INTO one_time_prekeys (user_id, key_id, public_key) SELECT id, 0, '\\x05' FROM users WHERE username = 'v1-keys';
      INSERT INTO initial_messages (recipient_id, sender, identity_key, ephemeral_key, one_time_prekey_id, ciphertext, associated_data, nonce)
        SELECT id, 'peer', '\\x00', '\\x00', 0, '\\x00', '\\x00', '\\x00' FROM users WHERE username = 'v1-inbox';
      INSERT INTO request_ids (device, request_id, signed_digest, reply_digest) VALUES ('v2-requests', '\\x06', '\\x07', 'v2:x');
      INSERT INTO enrolment_tokens (token_digest, used_at, used_by) VALUES ('\\x08', now(), 'v2-token');`));
    await run(files.find((name) => name.startsWith('006_'))!);
    const rows = await database.transaction((sql) =>
      sql.query<{ username: string; wire_protocol: number }>('SELECT username, wire_protocol FROM users ORDER BY username'));
    assert.deepEqual(Object.fromEntries(rows.map((row) => [row.username, row.wire_protocol])), {
      'v1-bundle': 1, 'v1-inbox': 1, 'v1-keys': 1,
      'v2-deleted': 2, 'v2-fresh': 2, 'v2-requests': 2, 'v2-token': 2, 'v2-uploaded': 2,
    });
  } finally {
    await close();
  }
});
