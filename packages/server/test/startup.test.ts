import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, startMosquitto } from '@x3dh-iot/testkit';
import { createLogger, parseServerConfig, startKeyServer } from '../src/index.js';

test('--help lists every flag with its environment variable', () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const help = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', main, '--help'], { encoding: 'utf8' });
  // An option starts a line of the Options section; commander wraps long descriptions onto indented lines.
  const options: string[] = [];
  for (const line of help.slice(help.indexOf('Options:')).split('\n').slice(1)) {
    if (/^ {2}--/.test(line)) options.push(line.trim());
    else if (line.trim() !== '') options[options.length - 1] += ` ${line.trim()}`;
  }
  options.splice(options.findIndex((option) => option.startsWith('--help')), 1);
  assert.ok(options.length >= 20, `${options.length} options found`);
  for (const option of options) assert.match(option, /\(.*env: X3DH_[A-Z0-9_]+\)/, option);
});

test('two replicas starting at once on a fresh database apply each migration once', { timeout: 60_000 }, async () => {
  const database = await createTestDatabase();
  const broker = await startMosquitto({ tls: true });
  const args = (id: string) => parseServerConfig(['--database-url', database.url, '--broker-url', broker.url,
    '--broker-ca', broker.certificates!.caFile, '--http-port', '0', '--client-id', id]);
  try {
    const servers = await Promise.all([startKeyServer(args('a'), createLogger('fatal')), startKeyServer(args('b'), createLogger('fatal'))]);
    await Promise.all(servers.map((server) => server.close()));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query('SELECT version FROM schema_migrations ORDER BY version');
    await client.end();
    const files = (await readdir(new URL('../src/storage/migrations/', import.meta.url))).filter((name) => name.endsWith('.sql')).sort();
    assert.deepEqual(rows, files.map((name) => ({ version: Number.parseInt(name, 10) })));
  } finally {
    await broker.stop();
    await database.drop();
  }
});
