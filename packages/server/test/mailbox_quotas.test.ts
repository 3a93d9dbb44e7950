import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { V2Response, V2TestDevice } from '@x3dh-iot/testkit';
import { uniqueName, v2Environments, type V2Environment } from './support/v2_environment.js';

/**
 * One sender cannot take a recipient's mailbox (docs/protocol-v2.md section 6.7): each sender has
 * a quota of waiting messages per recipient and a rate; senders the recipient has never written to
 * have a smaller quota and, all together, a share of the mailbox that leaves the rest to the
 * senders it has written to. On PostgreSQL + Mosquitto (client certificates) and the embedded defaults.
 */

const MAILBOX = 60;
const PER_NEW_SENDER = 20;
const FROM_NEW_SENDERS = 30;
const SEND_BURST = 25;
const FLAGS = ['--mailbox-max-messages', String(MAILBOX), '--mailbox-max-per-new-sender', String(PER_NEW_SENDER),
  '--mailbox-max-from-new-senders', String(FROM_NEW_SENDERS), '--send-burst', String(SEND_BURST), '--send-interval', '60',
  // The floods here test the mailbox's shares, not the per-device request rate that would stop them first.
  '--device-request-rate', '1000000', '--device-request-burst', '1000000'];

const send = (from: V2TestDevice, to: V2TestDevice) =>
  from.request('message.send', { to: to.name, id: randomBytes(16).toString('base64url'), type: 'x3dh.initial', envelope: 'AAAA' });

const outcome = (response: V2Response) => (response.ok ? 'queued' : response.error.code);

/** Sends `count` messages, `parallel` at a time, as a flooding client would; how many got each outcome. */
async function flood(from: V2TestDevice, to: V2TestDevice, count: number, parallel = 20): Promise<Record<string, number>> {
  const outcomes: Record<string, number> = {};
  for (let sent = 0; sent < count; sent += parallel) {
    const batch = await Promise.all(Array.from({ length: Math.min(parallel, count - sent) }, () => send(from, to)));
    for (const response of batch) outcomes[outcome(response)] = (outcomes[outcome(response)] ?? 0) + 1;
  }
  return outcomes;
}

for (const { name, start } of v2Environments) {
  describe(`mailbox quotas per sender on ${name}`, { timeout: 300_000 }, () => {
    let env: V2Environment;
    before(async () => { env = await start(FLAGS); });
    after(async () => { await env?.close(); });

    /** A recipient and a sender it has written to (a correspondent). */
    const recipientWithCorrespondent = async () => {
      const victim = await env.enrolled(uniqueName('victim'));
      const friend = await env.enrolled(uniqueName('friend'));
      assert.equal(outcome(await send(victim, friend)), 'queued');
      return { victim, friend };
    };

    test('attack: one sender floods a mailbox with junk initial messages; other senders still deliver at once', async () => {
      const { victim, friend } = await recipientWithCorrespondent();
      const mallory = await env.enrolled(uniqueName('mallory'));
      const outcomes = await flood(mallory, victim, 100);
      // Sends of one sender in separate transactions at the same moment may each pass its quota
      // (two at a time here): one message over it at most, never the mailbox's totals.
      assert.ok(outcomes.queued! >= PER_NEW_SENDER && outcomes.queued! <= PER_NEW_SENDER + 1, JSON.stringify(outcomes));
      assert.equal(outcomes.mailbox_full, 100 - outcomes.queued!);

      assert.equal(outcome(await send(friend, victim)), 'queued', 'a sender the victim has written to');
      const newcomer = await env.enrolled(uniqueName('newcomer'));
      assert.equal(outcome(await send(newcomer, victim)), 'queued', 'a sender the victim has never written to');

      // Acknowledged (refused by the victim's client), the junk leaves room for the sender again.
      const waiting = (await victim.request('mailbox.fetch', { limit: 100 }));
      assert.ok(waiting.ok);
      const junk = (waiting.result.messages as { id: string; from: string }[]).filter((m) => m.from === mallory.name);
      assert.equal(junk.length, outcomes.queued);
      assert.ok((await victim.request('mailbox.ack', { ids: junk.slice(0, junk.length - PER_NEW_SENDER + 5).map((m) => m.id) })).ok);
      assert.deepEqual(await flood(mallory, victim, 6, 1), { queued: 5, mailbox_full: 1 });
    });

    test('attack: many new senders together cannot crowd out the senders a recipient has written to', async () => {
      const { victim, friend } = await recipientWithCorrespondent();
      const sybils = await Promise.all(Array.from({ length: 4 }, () => env.enrolled(uniqueName('sybil'))));
      const outcomes: Record<string, number> = {};
      for (const sybil of sybils) {
        for (const [key, n] of Object.entries(await flood(sybil, victim, PER_NEW_SENDER))) outcomes[key] = (outcomes[key] ?? 0) + n;
      }
      assert.deepEqual(outcomes, { queued: FROM_NEW_SENDERS, mailbox_full: 4 * PER_NEW_SENDER - FROM_NEW_SENDERS });
      assert.deepEqual(await flood(friend, victim, SEND_BURST), { queued: SEND_BURST });
    });

    test('attack: a sender the recipient has written to cannot send it more than the rate allows', async () => {
      const { victim, friend } = await recipientWithCorrespondent();
      assert.deepEqual(await flood(friend, victim, SEND_BURST), { queued: SEND_BURST });
      const refused = await send(friend, victim);
      assert.ok(!refused.ok && refused.error.code === 'rate_limited', JSON.stringify(refused));
      assert.ok(refused.error.retry_after_ms! > 0 && refused.error.retry_after_ms! <= 60_000);
      // Other senders to the same recipient have buckets of their own.
      const newcomer = await env.enrolled(uniqueName('newcomer'));
      assert.equal(outcome(await send(newcomer, victim)), 'queued');
    });
  });
}
