import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@x3dh-iot/testkit';
import { createLogger } from '../src/ops/logger.js';
import type { Sql } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { PostgresDatabase } from '../src/storage/postgres_database.js';
import { claimBundle } from '../src/storage/queries/directory_queries.js';
import { handOutBundleRow } from '../src/storage/queries/fetch_allowance_queries.js';
import { listMailboxMessages, queueMessage } from '../src/storage/queries/mailbox_message_queries.js';
import { claimChatMessages, claimInitialMessage } from '../src/storage/queries/mailbox_queries.js';
import { pageFleetDevices } from '../src/storage/queries/fleet_queries.js';
import type { RequestIdGate } from '../src/storage/queries/request_id_queries.js';
import { genericPlan as planOn, indexCondition, scans, statementsOf } from './support/query_plans.js';

/**
 * The hand-out statements (oldest one-time prekey, oldest queued message) must find the target's
 * rows through an index on (owner, id), whatever else the tables hold: a plan that walks the
 * primary key in id order and filters by owner reads every device's rows per request, which
 * PostgreSQL chose for joins under the generic plans of prepared statements. The plans are checked
 * on PostgreSQL with tables of other devices' rows, for a target that has none left (the worst case).
 */

const QUEUE_TABLES = ['one_time_prekeys', 'initial_messages', 'chat_messages', 'mailbox_messages'];
const ROWS_OF_OTHERS = 30_000;

let testDatabase: TestDatabase;
let database: PostgresDatabase;
const genericPlan = (text: string, params: readonly unknown[]) => planOn(database, text, params);

before(async () => {
  testDatabase = await createTestDatabase('x3dh_plans');
  database = new PostgresDatabase({ url: testDatabase.url, poolSize: 2, connectTimeoutMs: 10_000 }, createLogger('silent'));
  await migrate(database);
  await database.transaction((sql) => sql.exec(`
    INSERT INTO users (username, identity_key) SELECT 'other' || g, '\\x00' FROM generate_series(1, 200) g;
    INSERT INTO users (username, identity_key) VALUES ('target', '\\x00'), ('requester', '\\x00');
    INSERT INTO one_time_prekeys (user_id, key_id, public_key)
      SELECT 1 + g % 200, g, '\\x00' FROM generate_series(1, ${ROWS_OF_OTHERS}) g;
    INSERT INTO initial_messages (recipient_id, sender, identity_key, ephemeral_key, one_time_prekey_id, ciphertext, associated_data, nonce)
      SELECT 1 + g % 200, 'peer', '\\x00', '\\x00', 0, '\\x00', '\\x00', '\\x00' FROM generate_series(1, ${ROWS_OF_OTHERS}) g;
    INSERT INTO chat_messages (recipient_id, sender, ciphertext, nonce)
      SELECT 1 + g % 200, 'peer', '\\x00', '\\x00' FROM generate_series(1, ${ROWS_OF_OTHERS}) g;
    INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
      SELECT 1 + g % 200, 1, int4send(g), 'session', '\\x00', now() + interval '1 day' FROM generate_series(1, ${ROWS_OF_OTHERS}) g;
    ANALYZE;`));
});

after(async () => {
  await database?.close();
  await testDatabase?.drop();
});

const gate: RequestIdGate = {
  record: { device: 'target', requestId: new Uint8Array(16), signedDigest: new Uint8Array(32), replyDigest: 'v2:probe' },
  receivedAt: Date.now(),
  keepSeconds: 60,
};
// Device ids: 'target' is 201, 'requester' 202.
const handOuts: [string, (sql: Sql) => Promise<unknown>, string][] = [
  ['v1 bundle fetch (one-time prekey claim)', (sql) => claimBundle(sql, 'target', { burst: 10, intervalMs: 1000 }), 'user_id'],
  ['v1 inbox read (initial message claim)', (sql) => claimInitialMessage(sql, 'target'), 'recipient_id'],
  ['v1 chat read', (sql) => claimChatMessages(sql, 'target', 'peer', 10), 'recipient_id'],
  ['v2 bundle.fetch (one-time prekey hand-out)', (sql) => handOutBundleRow(sql, '202', 'target', { requester: { burst: 10, intervalMs: 1000 }, target: { burst: 10, intervalMs: 1000 } }, 10, gate), 'user_id'],
  ['v2 mailbox.fetch', (sql) => listMailboxMessages(sql, '201', '0', 100, gate), 'recipient_id'],
  ['v2 message.send (the sender\'s waiting messages counted)', (sql) => queueMessage(sql, '202', 'target', {
    clientId: new Uint8Array(16), type: 'session', envelope: new Uint8Array(4),
  }, {
    maxMessages: 100, maxBytes: 10_000, retentionSeconds: 60, perCorrespondent: 50, perStranger: 10, strangers: 50,
    sends: { burst: 10, intervalMs: 1000 },
  }, gate), 'recipient_id'],
];

for (const [operation, call, owner] of handOuts) {
  test(`${operation} reads the target's rows by an index on its ${owner}, not every device's`, async () => {
    const statements = await statementsOf(call);
    assert.ok(statements.length > 0);
    for (const { text, params } of statements) {
      const plan = await genericPlan(text, params);
      const queueScans = [...scans(plan)].filter((scan) => QUEUE_TABLES.includes(scan['Relation Name']!));
      assert.ok(queueScans.length > 0, `no scan of a queue table in ${JSON.stringify(plan)}`);
      // A sequential scan, or an index scan without a condition (a walk in id order), reads every device's rows.
      for (const scan of queueScans) {
        assert.ok(indexCondition(scan) !== undefined,
          `${scan['Node Type']} on ${scan['Relation Name']} without an index condition: ${JSON.stringify(plan)}`);
      }
      assert.ok(queueScans.some((scan) => new RegExp(`\\b${owner} =`).test(indexCondition(scan)!)),
        `no scan by the target's ${owner}: ${JSON.stringify(plan)}`);
    }
  });
}

test('a page of the console\'s fleet overview reads its rows by one range of the names\' index, deep in the fleet and when searching', async () => {
  for (const page of [{ after: 'other150', prefix: '' }, { after: null, prefix: 'other1' }, { after: 'other12', prefix: 'other1' }]) {
    const statements = await statementsOf((sql) => pageFleetDevices(sql, { ...page, limit: 51 }));
    assert.equal(statements.length, 1);
    const plan = await genericPlan(statements[0]!.text, statements[0]!.params);
    const userScans = [...scans(plan)].filter((scan) => scan['Relation Name'] === 'users');
    assert.ok(userScans.length === 1 && userScans[0]!['Index Name'] === 'users_name_bytes', JSON.stringify(plan));
    const condition = indexCondition(userScans[0]!) ?? '';
    assert.match(condition, />.*>=.*</, `the page's bounds are all index conditions: ${condition}`);
  }
});
