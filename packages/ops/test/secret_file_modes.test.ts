import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { cli } from './operator_cli.js';

interface Entry {
  path: string;
  mode: number;
  directory: boolean;
}

/** Every directory and file under `dir` (not `dir` itself), with its mode. */
async function entries(dir: string): Promise<Entry[]> {
  const found: Entry[] = [];
  const visit = async (path: string) => {
    for (const name of await readdir(path)) {
      const entry = join(path, name);
      const stat = await lstat(entry);
      found.push({ path: relative(dir, entry), mode: stat.mode & 0o777, directory: stat.isDirectory() });
      if (stat.isDirectory()) await visit(entry);
    }
  };
  await visit(dir);
  return found;
}

const shown = (entry: Entry) => `${entry.mode.toString(8)} ${entry.path}`;

/** Files that hold a private key, a password, a cookie or a WireGuard key. */
const SECRET = /(\.key$|^wireguard\/|wg0\.conf$|definitions\.json$|erlang-cookie|v1-legacy\.conf$|keys\.h$)/;

describe('generated secrets', () => {
  it('are owner-only after a fresh generation: 0600 files in 0700 directories', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-modes-'));
    const out = join(dir, 'k8s');
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'broker', '-d', dir, '--dns', 'localhost');
    await cli('pki', 'server-client', '-d', dir);
    await cli('pki', 'device', 'alice', '-d', dir);
    await cli('wg', 'provision', 'alice', '-d', dir, '--subnet', '10.8.0.0/16', '--endpoint', '198.18.0.1:30000');
    await cli('operator', 'init', '-d', dir);
    await cli('firmware', 'keys-h', 'alice', '-d', dir, '--broker-uri', 'mqtts://10.96.100.100:8883');
    await cli('broker', 'rabbitmq', '-d', dir, '--enable-v1');
    await cli('k8s-secrets', '-d', dir, '-o', out, '--broker-address', '10.96.100.100', '--enable-v1', out);
    const all = await entries(dir);
    const secrets = all.filter((entry) => !entry.directory && SECRET.test(entry.path));
    assert.ok(secrets.length >= 8, secrets.map(shown).join(', '));
    assert.deepEqual(secrets.filter((entry) => entry.mode !== 0o600).map(shown), []);
    assert.deepEqual(all.filter((entry) => entry.directory && entry.mode !== 0o700).map(shown), []);
  });
});
