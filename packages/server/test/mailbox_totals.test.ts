import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteDevice } from '../src/domain/device_lifecycle.js';
import { acknowledgeMessages, sendMessage } from '../src/domain/mailbox_delivery.js';
import type { Database, Sql } from '../src/storage/database.js';
import type { MailboxLimits } from '../src/storage/queries/mailbox_message_queries.js';
import type { RequestIdGate } from '../src/storage/queries/request_id_queries.js';
import { insertDevice } from '../src/storage/queries/v2_device_queries.js';
import { purgeV2 } from '../src/v2/v2_purge.js';
import { databaseBackends } from './support/database_backends.js';

/**
 * The per-recipient mailbox totals that let a send check the limits and queue in one statement
 * (here every sender is one the recipient never wrote to, so the strangers' totals equal them):
 * they must equal the unexpired messages after sends, acknowledgements, expiry and deletion, and
 * concurrent sends must not overfill a mailbox. On the real databases, through the domain calls.
 */

const gate = (device: string): RequestIdGate => ({
  record: { device, requestId: randomBytes(16), signedDigest: randomBytes(32), replyDigest: `v2:${randomBytes(8).toString('hex')}` },
  receivedAt: Date.now(),
  keepSeconds: 60,
});

const backends = databaseBackends('mailbox', 24);

/** Limits by the mailbox's totals alone: quotas as large as the mailbox, no rate to speak of. */
const totalsOnly = (maxMessages: number, maxBytes: number, retentionSeconds: number): MailboxLimits => ({
  maxMessages, maxBytes, retentionSeconds, perCorrespondent: maxMessages, perStranger: maxMessages, strangers: maxMessages,
  sends: { burst: 1000, intervalMs: 1 },
});

for (const backend of backends) {
  describe(`mailbox totals on ${backend.name}`, { timeout: 120_000 }, () => {
    let database: Database;
    let close: () => Promise<void>;
    before(async () => {
      ({ database, close } = await backend.open({ migrated: true }));
    });
    after(async () => { await close?.(); });

    const enrol = async (prefix: string) => {
      const name = `${prefix}-${randomBytes(4).toString('hex')}`;
      const id = await database.transaction((sql) => insertDevice(sql, name, randomBytes(32)));
      return { name, id: id! };
    };
    const send = (from: { name: string; id: string }, to: string, bytes: number, limits: MailboxLimits) =>
      database.transaction((sql) => sendMessage(sql, from.id, from.name, {
        to, clientId: randomBytes(16), type: 'session', envelope: randomBytes(bytes),
      }, limits, gate(from.name)));
    const totals = (id: string) => database.transaction(async (sql: Sql) => {
      const [row] = await sql.query<{ messages: number; bytes: number; counted: number; summed: number; strangers: number; stranger_bytes: number }>(
        `SELECT queued_messages AS messages, queued_bytes::integer AS bytes,
           stranger_messages AS strangers, stranger_bytes::integer AS stranger_bytes,
           (SELECT count(*)::integer FROM mailbox_messages WHERE recipient_id = u.id) AS counted,
           (SELECT coalesce(sum(octet_length(envelope)), 0)::integer FROM mailbox_messages WHERE recipient_id = u.id) AS summed
         FROM users u WHERE id = $1::bigint`, [id]);
      return row!;
    });
    const queuedCode = (outcome: Awaited<ReturnType<typeof send>>) => ('ok' in outcome && outcome.ok === false ? outcome.code : 'queued');

    test('totals follow sends, acknowledgements, the expiry purge and deletion', async () => {
      const alice = await enrol('alice');
      const bob = await enrol('bob');
      const limits = totalsOnly(10, 10_000, 1);
      for (const bytes of [100, 200, 300]) assert.equal(queuedCode(await send(alice, bob.name, bytes, limits)), 'queued');
      assert.deepEqual(await totals(bob.id), { messages: 3, bytes: 600, counted: 3, summed: 600, strangers: 3, stranger_bytes: 600 });

      const [first] = await database.transaction((sql) =>
        sql.query<{ id: string }>('SELECT id::text AS id FROM mailbox_messages WHERE recipient_id = $1::bigint ORDER BY id LIMIT 1', [bob.id]));
      // An id twice and another device's id count once and not at all.
      const acknowledged = await database.transaction((sql) => acknowledgeMessages(sql, bob.id, [first!.id, first!.id, '999999999'], gate(bob.name)));
      assert.equal(acknowledged, 1);
      assert.deepEqual(await totals(bob.id), { messages: 2, bytes: 500, counted: 2, summed: 500, strangers: 2, stranger_bytes: 500 });

      await sleep(1100);
      await purgeV2(database, 60, Date.now(), 14 * 24 * 3600);
      assert.deepEqual(await totals(bob.id), { messages: 0, bytes: 0, counted: 0, summed: 0, strangers: 0, stranger_bytes: 0 });

      assert.equal(queuedCode(await send(alice, bob.name, 50, { ...limits, retentionSeconds: 60 })), 'queued');
      await database.transaction((sql) => deleteDevice(sql, bob.id));
      assert.deepEqual(await totals(bob.id), { messages: 0, bytes: 0, counted: 0, summed: 0, strangers: 0, stranger_bytes: 0 });
    });

    test('limits by count and by bytes; expired messages not purged yet do not count', async () => {
      const alice = await enrol('alice');
      const bob = await enrol('bob');
      const carol = await enrol('carol');
      const limits = totalsOnly(2, 1000, 1);
      assert.equal(queuedCode(await send(alice, bob.name, 10, limits)), 'queued');
      assert.equal(queuedCode(await send(alice, bob.name, 10, limits)), 'queued');
      assert.equal(queuedCode(await send(alice, bob.name, 10, limits)), 'mailbox_full');
      assert.equal(queuedCode(await send(alice, carol.name, 600, limits)), 'queued');
      assert.equal(queuedCode(await send(alice, carol.name, 401, limits)), 'mailbox_full');
      assert.equal(queuedCode(await send(alice, carol.name, 400, limits)), 'queued');

      await sleep(1100);
      // No purge ran: the send itself drops the expired messages that filled the totals.
      assert.equal(queuedCode(await send(alice, bob.name, 10, limits)), 'queued');
      assert.deepEqual(await totals(bob.id), { messages: 1, bytes: 10, counted: 1, summed: 10, strangers: 1, stranger_bytes: 10 });
    });

    test('concurrent sends to one recipient in separate transactions fill its mailbox exactly to the limit', async () => {
      const bob = await enrol('bob');
      const senders = await Promise.all(Array.from({ length: 20 }, () => enrol('sender')));
      const limits = totalsOnly(5, 1_000_000, 60);
      const outcomes = await Promise.all(senders.map((sender) => send(sender, bob.name, 100, limits).then(queuedCode)));
      assert.equal(outcomes.filter((code) => code === 'queued').length, 5);
      assert.equal(outcomes.filter((code) => code === 'mailbox_full').length, 15);
      assert.deepEqual(await totals(bob.id), { messages: 5, bytes: 500, counted: 5, summed: 500, strangers: 5, stranger_bytes: 500 });
    });
  });
}
