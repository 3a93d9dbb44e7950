import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@x3dh-iot/testkit';
import { createLogger } from '../src/ops/logger.js';
import { purgeInBatches } from '../src/storage/batched_purge.js';
import type { Database, Sql } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { PostgresDatabase } from '../src/storage/postgres_database.js';
import { forgetCorrespondence, purgeExpiredMessages, purgeSentMessages } from '../src/storage/queries/mailbox_message_queries.js';
import { listDevices } from '../src/storage/queries/operator_device_queries.js';
import { purgeProcessedReplies } from '../src/storage/queries/processed_request_queries.js';
import { purgeRequestIds } from '../src/storage/queries/request_id_queries.js';
import { insertDevice, listDeviceNames } from '../src/storage/queries/v2_device_queries.js';
import { purgeV2 } from '../src/v2/v2_purge.js';
import { databaseBackends } from './support/database_backends.js';
import { genericPlan, indexCondition, scans, statementsOf, type PlanNode } from './support/query_plans.js';

/**
 * The statements that list the directory or purge expired rows must stay bounded however large the
 * fleet: listings go a page at a time (keyset pagination), purges a batch at a time, each through
 * an index. On the real databases.
 */

const listings: [string, (sql: Sql, after: string | null, limit: number) => Promise<string[]>][] = [
  ['directory.list (v2 devices)', listDeviceNames],
  ['operator device list', async (sql, after, limit) => (await listDevices(sql, after, limit)).map((row) => row.username)],
];

/** Every name a listing gives, page after page of `limit`, each page its own transaction. */
async function pageThrough(database: Database, list: (sql: Sql, after: string | null, limit: number) => Promise<string[]>, limit: number) {
  const names: string[] = [];
  let pages = 0;
  for (;;) {
    const page = await database.transaction((sql) => list(sql, names.at(-1) ?? null, limit));
    pages += 1;
    assert.ok(page.length <= limit, `a page of ${page.length} for a limit of ${limit}`);
    names.push(...page);
    if (page.length < limit) return { names, pages };
  }
}

/** Rows expired a minute ago in each table a purge goes through, for `devices` devices; also one live row each. */
async function insertExpiredRows(sql: Sql, devices: string[], perDevice: number): Promise<void> {
  const count = devices.length * perDevice;
  await sql.query(
    `INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at, from_stranger)
     SELECT u.id, u.id, int4send(g), 'session', '\\x0000', now() - interval '1 minute', g % 2 = 0
     FROM users u CROSS JOIN generate_series(1, $2::integer) g WHERE u.username = ANY($1::text[])`, [devices, perDevice]);
  await sql.query(
    `UPDATE users u SET queued_messages = m.n, queued_bytes = m.bytes, stranger_messages = m.strangers, stranger_bytes = m.stranger_bytes
     FROM (SELECT recipient_id, count(*) AS n, sum(octet_length(envelope)) AS bytes, count(*) FILTER (WHERE from_stranger) AS strangers,
             coalesce(sum(octet_length(envelope)) FILTER (WHERE from_stranger), 0) AS stranger_bytes
           FROM mailbox_messages GROUP BY recipient_id) m WHERE u.id = m.recipient_id`);
  await sql.query(
    `INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
     SELECT u.id, int4send(g), g, now() - interval '1 day', now() - interval '1 minute'
     FROM users u CROSS JOIN generate_series(1, $2::integer) g WHERE u.username = ANY($1::text[])`, [devices, perDevice]);
  await sql.query(
    `INSERT INTO request_ids (device, request_id, signed_digest, reply_digest, received_at)
     SELECT 'device' || g % 7, int4send(g), '\\x00', 'v2:' || g, now() - interval '1 hour' FROM generate_series(1, $1::integer) g`, [count]);
  await sql.query(
    `INSERT INTO processed_requests (digest, reply, processed_at)
     SELECT 'old' || g, '{}', now() - interval '2 hours' FROM generate_series(1, $1::integer) g`, [count]);
  // A live row in each, which no purge may touch.
  await sql.query(
    `INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
     SELECT id, id, '\\x01', 'session', '\\x00', now() + interval '1 day' FROM users WHERE username = $1`, [devices[0]]);
  await sql.query('UPDATE users SET queued_messages = queued_messages + 1, queued_bytes = queued_bytes + 1 WHERE username = $1', [devices[0]]);
  await sql.query(`INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
     SELECT id, '\\x01', 0, now(), now() + interval '1 day' FROM users WHERE username = $1`, [devices[0]]);
  await sql.query(`INSERT INTO request_ids (device, request_id, signed_digest, reply_digest) VALUES ('live', '\\x01', '\\x00', 'v2:live')`);
  await sql.query(`INSERT INTO processed_requests (digest, reply) VALUES ('live', '{}')`);
}

const purges: [string, (sql: Sql, limit: number) => Promise<number>][] = [
  ['expired messages', purgeExpiredMessages],
  ['send records', purgeSentMessages],
  ['request ids', (sql, limit) => purgeRequestIds(sql, Date.now(), 600, limit)],
  ['processed requests', (sql, limit) => purgeProcessedReplies(sql, 3600, limit)],
];

const rowCounts = (database: Database) => database.transaction(async (sql) => (await sql.query<Record<string, number>>(
  `SELECT (SELECT count(*) FROM mailbox_messages)::integer AS messages, (SELECT count(*) FROM sent_messages)::integer AS sends,
     (SELECT count(*) FROM request_ids)::integer AS request_ids, (SELECT count(*) FROM processed_requests)::integer AS processed,
     (SELECT coalesce(sum(queued_messages), 0) FROM users)::integer AS queued,
     (SELECT coalesce(sum(queued_bytes), 0) FROM users)::integer AS queued_bytes,
     (SELECT coalesce(sum(stranger_messages), 0) FROM users)::integer AS strangers`))[0]!);

for (const backend of databaseBackends('bounded', 4)) {
  describe(`bounded listings and purges on ${backend.name}`, { timeout: 120_000 }, () => {
    let database: Database;
    let close: () => Promise<void>;
    before(async () => {
      ({ database, close } = await backend.open({ migrated: true }));
    });
    after(async () => close?.());

    for (const [name, list] of listings) {
      test(`${name}: pages list every device once, in name order, while devices enrol concurrently`, async () => {
        await database.transaction((sql) => sql.query('TRUNCATE users CASCADE'));
        const before = Array.from({ length: 300 }, (_, i) => `dev-${String(i * 3).padStart(4, '0')}`);
        await database.transaction(async (sql) => { for (const device of before) await insertDevice(sql, device, new Uint8Array(32)); });
        // Names that fall between, before and after the listed ones, enrolled while the pages are read.
        const enrolling = (async () => {
          for (let i = 0; i < 150; i += 1) {
            await database.transaction((sql) => insertDevice(sql, `dev-${String(i * 6 + 1).padStart(4, '0')}`, new Uint8Array(32)));
          }
        })();
        const { names, pages } = await pageThrough(database, list, 17);
        await enrolling;
        assert.equal(new Set(names).size, names.length, 'a device listed twice');
        assert.deepEqual(names, [...names].sort(), 'pages out of name order');
        for (const device of before) assert.ok(names.includes(device), `${device} was never listed`);
        assert.ok(pages >= Math.ceil(300 / 17), `${pages} pages`);
        // Once enrolment is over, the listing is exactly the directory.
        assert.equal((await pageThrough(database, list, 17)).names.length, 450);
      });
    }

    test('directory.list lists no v1, deleted or disabled device, and a page beyond the last is empty', async () => {
      await database.transaction((sql) => sql.exec(`TRUNCATE users CASCADE;
        INSERT INTO users (username, identity_key) VALUES ('a', '\\x00'), ('c', '\\x00');
        INSERT INTO users (username, identity_key, wire_protocol) VALUES ('b-v1', '\\x00', 1);
        INSERT INTO users (username, identity_key, deleted_at) VALUES ('b-deleted', '\\x00', now());
        INSERT INTO users (username, identity_key, disabled_at) VALUES ('b-disabled', '\\x00', now());`));
      assert.deepEqual(await database.transaction((sql) => listDeviceNames(sql, null, 10)), ['a', 'c']);
      assert.deepEqual(await database.transaction((sql) => listDeviceNames(sql, 'a', 10)), ['c']);
      assert.deepEqual(await database.transaction((sql) => listDeviceNames(sql, 'c', 10)), []);
    });

    test('each purge deletes a batch at a time, no more than its limit, until nothing expired is left', async () => {
      await database.transaction(async (sql) => {
        await sql.query('TRUNCATE users, request_ids, processed_requests CASCADE');
        for (let i = 0; i < 5; i += 1) await insertDevice(sql, `purged-${i}`, new Uint8Array(32));
        await insertExpiredRows(sql, Array.from({ length: 5 }, (_, i) => `purged-${i}`), 50);
      });
      for (const [name, purge] of purges) {
        const batches: number[] = [];
        const total = await purgeInBatches(database, purge, 100, (deleted) => batches.push(deleted));
        assert.deepEqual(batches, [100, 100, 50], `batches of the purge of ${name}`);
        assert.equal(total, 250);
      }
      // Only the live rows are left, and the mailbox totals count exactly them.
      assert.deepEqual(await rowCounts(database),
        { messages: 1, sends: 1, request_ids: 1, processed: 1, queued: 1, queued_bytes: 1, strangers: 0 });
    });

    test('purgeV2 in small batches leaves nothing expired behind', async () => {
      await database.transaction(async (sql) => {
        await sql.query('TRUNCATE users, request_ids, processed_requests CASCADE');
        for (let i = 0; i < 3; i += 1) await insertDevice(sql, `purged-${i}`, new Uint8Array(32));
        await insertExpiredRows(sql, ['purged-0', 'purged-1', 'purged-2'], 20);
      });
      // 60 of each of mailbox messages, send records and request ids (processed requests are not v2's).
      assert.equal(await purgeV2(database, 60, Date.now(), 14 * 24 * 3600, 7), 180);
      const counts = await rowCounts(database);
      assert.deepEqual({ ...counts, processed: 0 },
        { messages: 1, sends: 1, request_ids: 1, processed: 0, queued: 1, queued_bytes: 1, strangers: 0 });
    });

    test('concurrent purges (two replicas) delete every expired row once between them, and the totals stay exact', async () => {
      await database.transaction(async (sql) => {
        await sql.query('TRUNCATE users, request_ids, processed_requests CASCADE');
        for (let i = 0; i < 10; i += 1) await insertDevice(sql, `purged-${i}`, new Uint8Array(32));
        await insertExpiredRows(sql, Array.from({ length: 10 }, (_, i) => `purged-${i}`), 40);
      });
      const totals = await Promise.all([1, 2, 3].map(() => purgeInBatches(database, purgeExpiredMessages, 25)));
      assert.equal(totals.reduce((a, b) => a + b, 0), 400);
      const counts = await rowCounts(database);
      assert.equal(counts.messages, 1);
      assert.equal(counts.queued, 1);
      assert.equal(counts.strangers, 0);
    });
  });
}

/**
 * Plans on PostgreSQL, with tables large enough that the planner would rather scan them whole if
 * no index served the statement (the generic plans of prepared statements, as the server runs them).
 */
describe('plans of the listing, purge and device-removal statements', { timeout: 120_000 }, () => {
  const DEVICES = 20_000;
  let testDatabase: TestDatabase;
  let database: PostgresDatabase;
  before(async () => {
    testDatabase = await createTestDatabase('x3dh_bounded_plans');
    database = new PostgresDatabase({ url: testDatabase.url, poolSize: 2, connectTimeoutMs: 10_000 }, createLogger('silent'));
    await migrate(database);
    await database.transaction((sql) => sql.exec(`
      INSERT INTO users (username, identity_key, wire_protocol)
        SELECT 'device-' || lpad(g::text, 6, '0'), '\\x00', CASE WHEN g % 10 = 0 THEN 1 ELSE 2 END FROM generate_series(1, ${DEVICES}) g;
      INSERT INTO one_time_prekeys (user_id, key_id, public_key) SELECT 1 + g % ${DEVICES}, g, '\\x00' FROM generate_series(1, ${DEVICES * 2}) g;
      INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
        SELECT 1 + g % ${DEVICES}, 1 + (g * 7) % ${DEVICES}, int4send(g), 'session', '\\x00', now() + (g % 100 - 1) * interval '1 minute'
        FROM generate_series(1, ${DEVICES}) g;
      INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
        SELECT 1 + g % ${DEVICES}, int4send(g), g, now(), now() + (g % 100 - 1) * interval '1 minute' FROM generate_series(1, ${DEVICES}) g;
      INSERT INTO request_ids (device, request_id, signed_digest, reply_digest, received_at)
        SELECT 'device-' || g % 1000, int4send(g), '\\x00', 'v2:' || g, now() - (g % 100) * interval '1 minute' FROM generate_series(1, ${DEVICES}) g;
      INSERT INTO processed_requests (digest, reply, processed_at)
        SELECT 'p' || g, '{}', now() - (g % 100) * interval '1 minute' FROM generate_series(1, ${DEVICES}) g;
      INSERT INTO bundle_fetch_allowances (requester_id, target_id, tokens, updated_at)
        SELECT 1 + g % ${DEVICES}, 1 + (g * 13) % ${DEVICES}, 1, now() FROM generate_series(1, ${DEVICES}) g;
      INSERT INTO message_send_allowances (sender_id, recipient_id, tokens, updated_at)
        SELECT 1 + g % ${DEVICES}, 1 + (g * 13) % ${DEVICES}, 1, now() FROM generate_series(1, ${DEVICES}) g;
      ANALYZE;`));
  });
  after(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  /** What a bounded statement may read a table by: an index with a condition, or row addresses (a TID scan). */
  const bounded = (scan: PlanNode) => scan['Node Type'] === 'Tid Scan' || indexCondition(scan) !== undefined;

  const statements: [string, (sql: Sql) => Promise<unknown>, RegExp][] = [
    ['a directory.list page', (sql) => listDeviceNames(sql, 'device-010000', 1000), /users_v2_directory/],
    ['an operator device list page', (sql) => listDevices(sql, 'device-010000', 1000), /users_username_key/],
    ['a batch of the expired-message purge', (sql) => purgeExpiredMessages(sql, 1000), /mailbox_messages_expiry/],
    ['a batch of the send-record purge', (sql) => purgeSentMessages(sql, 1000), /sent_messages_expiry/],
    ['a batch of the request-id purge', (sql) => purgeRequestIds(sql, Date.now(), 600, 1000), /request_ids_age/],
    ['a batch of the processed-request purge', (sql) => purgeProcessedReplies(sql, 3600, 1000), /processed_requests_age/],
    ['the removal of a device\'s allowances and send records', (sql) => forgetCorrespondence(sql, '123'),
      /bundle_fetch_allowances_target[\s\S]*message_send_allowances_recipient|message_send_allowances_recipient[\s\S]*bundle_fetch_allowances_target/],
  ];

  for (const [name, call, index] of statements) {
    test(`${name} reads every table through an index, never a whole table`, async () => {
      const [statement, ...more] = await statementsOf(call);
      assert.equal(more.length, 0);
      const plan = await genericPlan(database, statement!.text, statement!.params);
      for (const scan of scans(plan)) {
        assert.ok(bounded(scan), `${scan['Node Type']} on ${scan['Relation Name']} without an index condition: ${JSON.stringify(plan)}`);
      }
      // The index named: a bitmap scan names it on its child node.
      assert.match(JSON.stringify(plan), index);
    });
  }
});
