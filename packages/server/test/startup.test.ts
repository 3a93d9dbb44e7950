import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test('--log-format pretty (or X3DH_LOG_FORMAT) prints one readable line per entry; JSON lines stay the default off a terminal', { timeout: 120_000 }, async () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const dir = await mkdtemp(join(tmpdir(), 'x3dh-log-format-'));
  // Prints the server's output up to "key server ready", then stops it.
  const firstLines = async (args: string[], env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', main, '--data-dir', join(dir, 'data'),
      '--embedded-broker-port', '0', '--http-port', '0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('key server ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before it was ready:\n${output}`)));
    });
    child.kill('SIGTERM');
    await once(child, 'exit');
    return output.trim().split('\n');
  };
  try {
    for (const lines of [await firstLines(['--log-format', 'pretty']), await firstLines([], { X3DH_LOG_FORMAT: 'pretty' })]) {
      const ready = lines.find((line) => line.includes('key server ready'))!;
      assert.match(ready, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: key server ready \{"broker":"mqtt:\/\/127\.0\.0\.1:\d+"/, ready);
      for (const line of lines) assert.throws(() => JSON.parse(line) as unknown, SyntaxError, line);
    }
    const json = await firstLines([]);
    for (const line of json) assert.equal(typeof (JSON.parse(line) as { msg: unknown }).msg, 'string', line);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('start-up failures: one line saying what to check, no stack, and the device CLI\'s exit codes (2 settings, 5 unreachable)', { timeout: 120_000 }, async () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const dir = await mkdtemp(join(tmpdir(), 'x3dh-start-failure-'));
  const run = async (args: string[]) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', main, '--data-dir', join(dir, 'data'), '--http-port', '0', '--embedded-broker-port', '0', ...args],
      { env: { ...process.env, X3DH_LOG_FORMAT: 'json' } });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const [code] = await once(child, 'exit') as [number];
    return { code, output };
  };
  try {
    const loud = await run(['--log-level', 'loud']);
    assert.equal(loud.code, 2);
    assert.match(loud.output, /--log-level <level>' argument 'loud' is invalid\. Allowed choices are fatal, error, warn, info, debug, trace, silent/);
    const database = await run(['--database-url', 'postgresql://postgres@127.0.0.1:1/none', '--startup-wait', '0']);
    assert.equal(database.code, 5);
    assert.match(database.output, /cannot start: database unreachable: .*ECONNREFUSED.*is the database at --database-url running and reachable\?/);
    const broker = await run(['--broker-url', 'mqtt://127.0.0.1:1', '--startup-wait', '0']);
    assert.equal(broker.code, 5);
    assert.match(broker.output, /cannot start: .*ECONNREFUSED.*is the broker at --broker-url/);
    for (const { output } of [loud, database, broker]) {
      assert.doesNotMatch(output, /\n\s+at |"stack"/, 'no stack trace');
      assert.equal(output.match(/cannot start/g)?.length ?? 0, output === loud.output ? 0 : 1, 'the reason once');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
