import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair } from '@x3dh-iot/protocol';
import type { V2Response } from '@x3dh-iot/testkit';
import { uniqueName, v2Environments, type V2Environment } from './support/v2_environment.js';

/**
 * One device floods the server with malformed and mis-signed requests: the excess is refused
 * rate_limited before any check (most of it then unanswered: the flooder waits 15 s for each),
 * and another device's requests are all answered meanwhile.
 */

const FLOOD = 3000;
const LEGITIMATE = 15;

for (const { name, start } of v2Environments) {
  describe(`request flood on ${name}`, { timeout: 120_000 }, () => {
    let env: V2Environment;
    before(async () => { env = await start(); });
    after(async () => { await env?.close(); });

    test('attack: a device flooding malformed and mis-signed requests is rate limited, and another device is answered throughout', async () => {
      const honest = await env.enrolled(uniqueName('honest'), { oneTimePreKeys: 0 });
      const flooder = await env.enrolled(uniqueName('flooder'), { oneTimePreKeys: 0 });
      const wrongKey = generateKeyPair().privateKey;
      const flood = Array.from({ length: FLOOD }, (_, i) => flooder.send(i % 2 === 0
        ? flooder.sign('mailbox.fetch', {}, { rawPayload: '{"limit": "many"' })
        : flooder.sign('mailbox.fetch', {}, { signingKey: wrongKey }), 15_000).catch((): V2Response | null => null));

      const answers: V2Response[] = [];
      for (let i = 0; i < LEGITIMATE; i += 1) answers.push(await honest.request('mailbox.fetch', {}));
      assert.deepEqual(answers.map((answer) => answer.ok), answers.map(() => true), 'every request of the other device answered ok');

      const replies = await Promise.all(flood);
      const codes = new Map<string, number>();
      for (const response of replies) {
        const code = response === null ? 'none' : response.ok ? 'ok' : response.error.code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
      const limited = replies.find((response) => response?.ok === false && response.error.code === 'rate_limited');
      assert.ok(limited, `the flooder is rate limited (replies: ${JSON.stringify(Object.fromEntries(codes))})`);
      assert.ok(!limited.ok && limited.error.retry_after_ms !== undefined && limited.error.retry_after_ms > 0, 'with retry_after_ms');
      const checked = (codes.get('bad_signature') ?? 0) + (codes.get('bad_request') ?? 0);
      assert.ok(checked < FLOOD / 2, `most of the flood refused before any check (replies: ${JSON.stringify(Object.fromEntries(codes))})`);
    });
  });
}
