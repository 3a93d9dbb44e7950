import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cli, runCli } from './operator_cli.js';

/**
 * `pki revoke` is one operator step for both halves of a revocation: the key server disables the
 * device (`x3dh-server device disable NAME`, tested against the real server in
 * packages/server/test/device_blocking.test.ts), then the certificate goes to the CRL. Here the key
 * server command is a stand-in that records how it was called and refuses one name.
 */

const STAND_IN = `import { appendFileSync } from 'node:fs';
const args = process.argv.slice(2);
appendFileSync(process.env.CALLS, JSON.stringify(args) + '\\n');
if (args.at(-1) === 'unknown') { console.error('x3dh-server: no device named unknown'); process.exit(1); }
console.log(args.at(-1) + ' disabled (was active, now disabled)');
`;

describe('pki revoke with the key server step', () => {
  let dir: string;
  let command: string;
  let calls: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-revoke-'));
    const script = join(dir, 'key-server.mjs');
    await writeFile(script, STAND_IN);
    command = `${process.execPath} ${script}`;
    calls = join(dir, 'calls.jsonl');
    process.env.CALLS = calls;
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'device', 'alice', 'bob', 'unknown', '-d', dir);
  });
  const recorded = async () => (await readFile(calls, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as string[]);

  it('disables each device on the key server, then revokes its certificate', async () => {
    const output = await cli('pki', 'revoke', 'alice', 'bob', '--key-server-command', command, '-d', dir);
    assert.deepEqual(await recorded(), [['device', 'disable', 'alice'], ['device', 'disable', 'bob']]);
    assert.match(output, /alice disabled[\s\S]*bob disabled[\s\S]*revoked alice[\s\S]*revoked bob/);
    await assert.rejects(stat(join(dir, 'pki', 'devices', 'alice.crt')));
  });

  it('revokes nothing when the key server step fails, and says how to go on', async () => {
    const result = await runCli(['pki', 'revoke', 'unknown', '--key-server-command', command, '-d', dir]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no device named unknown[\s\S]*nothing was revoked[\s\S]*--certificate-only/);
    await stat(join(dir, 'pki', 'devices', 'unknown.crt'));
    await cli('pki', 'revoke', 'unknown', '--certificate-only', '-d', dir);
    await assert.rejects(stat(join(dir, 'pki', 'devices', 'unknown.crt')));
  });
});
