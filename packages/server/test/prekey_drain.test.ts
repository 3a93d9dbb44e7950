import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V2Response } from '@x3dh-iot/testkit';
import { parseServerConfig } from '../src/index.js';
import { uniqueName, v2Environments, type V2Environment } from './support/v2_environment.js';

/**
 * Sybil devices draining a victim's one-time prekeys (docs/protocol-v2.md sections 6.1 and 6.5):
 * each requester is limited per target, so an attacker enrols many requesters; the per-target limit
 * bounds what they take together, and enrolment needs an operator's token unless the operator
 * chose open enrolment, on every store.
 */

/** Defaults of --fetch-burst and --target-fetch-burst. */
const REQUESTER_BURST = 5;
const TARGET_BURST = 20;
const SYBILS = 8;

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

for (const { name, kind, start } of v2Environments) {
  describe(`prekey drain on ${name}, defaults`, { timeout: 300_000 }, () => {
    let env: V2Environment;
    before(async () => { env = await start(); });
    after(async () => { await env?.close(); });

    test('attack: many freshly enrolled devices cannot drain a victim beyond the per-target limit', async () => {
      const victim = await env.enrolled(uniqueName('victim'), { oneTimePreKeys: 60 });
      const sybils = await Promise.all(Array.from({ length: SYBILS }, () => env.enrolled(uniqueName('sybil'), { oneTimePreKeys: 1 })));
      const bundles = await Promise.all(sybils.flatMap((sybil) => Array.from({ length: REQUESTER_BURST }, async () =>
        result(await sybil.request('bundle.fetch', { device: victim.name })))));
      const withKey = bundles.filter((bundle) => bundle.one_time_prekey !== undefined).length;
      // Every fetch got the bundle (the victim stays reachable); one more key may have been refilled meanwhile.
      assert.equal(bundles.length, SYBILS * REQUESTER_BURST);
      assert.ok(withKey >= TARGET_BURST && withKey <= TARGET_BURST + 1, `${withKey} one-time prekeys handed out`);
      assert.equal(result(await victim.request('prekeys.status')).one_time_prekeys, 60 - withKey);
    });

    if (kind === 'embedded') {
      test('attack: the embedded default refuses enrolment without a token', async () => {
        const device = await env.device(uniqueName('stranger'));
        const refused = await device.enroll();
        assert.ok(!refused.ok && refused.error.code === 'enrolment_required', JSON.stringify(refused));
        result(await device.enroll(await env.issueToken()));
      });
    }
  });
}

test('open enrolment is off unless the operator switches it on, whichever store', () => {
  assert.equal(parseServerConfig([]).openEnrolment, false);
  assert.equal(parseServerConfig(['--database-url', 'postgres://127.0.0.1/x']).openEnrolment, false);
  assert.equal(parseServerConfig(['--open-enrolment']).openEnrolment, true);
  assert.equal(parseServerConfig(['--open-enrolment', 'no']).openEnrolment, false);
  assert.equal(parseServerConfig(['--open-enrolment', '--no-open-enrolment']).openEnrolment, false);
});
