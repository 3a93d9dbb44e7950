import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The README's example runs as written and says what the README says it does. */
test('the README example: X3DH, the first message, a reply over the ratchet, a stored session, a safety number', async () => {
  const example = fileURLToPath(new URL('../examples/two_parties.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', example]);
  assert.match(stdout, /^Bob read: hello Bob\nAlice read: hi Alice\nAlice's session: \d+ bytes\nSafety number: (\d{5} ){11}\d{5}\n$/);
});
