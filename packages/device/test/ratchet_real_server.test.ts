import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import { wireV2 } from '@x3dh-iot/protocol';
import type { SecureDevice } from '../src/index.js';
import { type RecordingLink, startRealPostgres } from './support/real_v2_server.js';

/**
 * Double Ratchet sessions of two SecureDevices through the real key server (its own process) on
 * PostgreSQL and Mosquitto over TLS 1.3, over links that lose and reorder messages.
 */

const MESSAGES = 1000;
const DROP_RATE = 0.1;
/** Below a mailbox page (100), so a reordered page never hides the next one. */
const MOST_PER_ROUND = 60;

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * Makes a device's link lossy and disorderly: a `message.send` it is told to lose never reaches the
 * server (and the device is told it was queued, as after a broker that lost it), and every mailbox
 * page comes back in random order.
 */
function disorderly(link: RecordingLink): { loseNext: boolean } {
  const control = { loseNext: false };
  const request = link.request.bind(link);
  link.request = async (wire) => {
    const operation = wireV2.parseRequestTopic(wire.topic)!.operation;
    if (operation === 'message.send' && control.loseNext) {
      control.loseNext = false;
      return { payload: Buffer.from(JSON.stringify({ ok: true, result: { message_id: '1', queued_at: Date.now() } })) };
    }
    const response = await request(wire);
    if (operation !== 'mailbox.fetch') return response;
    const parsed = JSON.parse(response.payload.toString('utf8')) as { ok: boolean; result?: { messages: unknown[] } };
    if (parsed.result) shuffle(parsed.result.messages);
    return { payload: Buffer.from(JSON.stringify(parsed)) };
  };
  return control;
}

test('two devices exchange 1,000 messages in random order with drops through the real server (PostgreSQL, Mosquitto): every delivered message opens exactly once', async (t) => {
  // Hundreds of messages a second between one pair: above the server's default send and request rates.
  const server = await startRealPostgres(['--send-burst', '1000000', '--device-request-rate', '1000000', '--device-request-burst', '1000000']);
  try {
    const alice = await server.enrolled('alice');
    const bob = await server.enrolled('bob');
    await alice.startSession('bob', 'hello');
    assert.equal((await bob.checkInbox())?.text, 'hello');
    const devices = new Map<string, { device: SecureDevice; peer: string; link: { loseNext: boolean } }>([
      ['alice', { device: alice, peer: 'bob', link: disorderly(server.link('alice')) }],
      ['bob', { device: bob, peer: 'alice', link: disorderly(server.link('bob')) }],
    ]);
    const expected = new Set<string>();
    const dropped = new Set<string>();
    const opened = new Map<string, number>();
    let problems = 0;
    const receive = async (name: string) => {
      const { device } = devices.get(name)!;
      problems += (await device.syncMailbox()).problems.length;
      for (const { text } of await device.takeUnread()) opened.set(text, (opened.get(text) ?? 0) + 1);
    };
    const started = Date.now();
    for (let sent = 0; sent < MESSAGES;) {
      const count = Math.min(MESSAGES - sent, 1 + randomInt(MOST_PER_ROUND));
      const plan = { alice: [] as string[], bob: [] as string[] };
      for (let i = 0; i < count; i++) plan[randomInt(2) === 0 ? 'alice' : 'bob'].push(`m${sent + i}`);
      sent += count;
      // Both send at once, each its messages in order; the receivers read in random order after.
      await Promise.all(Object.entries(plan).map(async ([name, texts]) => {
        const { device, peer, link } = devices.get(name)!;
        for (const text of texts) {
          link.loseNext = Math.random() < DROP_RATE;
          (link.loseNext ? dropped : expected).add(text);
          await device.send(peer, text);
        }
      }));
      for (const name of shuffle(['alice', 'bob'])) if (randomInt(3) > 0) await receive(name);
    }
    await receive('alice');
    await receive('bob');
    const elapsed = Date.now() - started;

    const twice = [...opened].filter(([, n]) => n > 1).map(([text]) => text);
    assert.deepEqual(twice, [], 'no message opened twice');
    assert.deepEqual([...expected].filter((text) => !opened.has(text)), [], 'every delivered message opened');
    assert.deepEqual([...dropped].filter((text) => opened.has(text)), [], 'a lost message never appears');
    assert.equal(problems, 0);
    t.diagnostic(`${MESSAGES} messages (${dropped.size} lost on the way) in ${elapsed} ms through the real server`);
  } finally {
    await server.close();
  }
});
