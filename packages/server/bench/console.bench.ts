/**
 * Operator console benchmark (not a test): fills a PostgreSQL store with --devices devices (bulk
 * SQL, with one-time prekeys and mailbox depths), starts the key server on it, logs in with the
 * system's headless Chromium and prints the time to the first render of the fleet overview and of
 * a search, the API's time for a page deep in the fleet, and the plan of the page query.
 *
 *   npm run bench:console -- --devices 100000
 */
import { Command, Option } from 'commander';
import { createTestDatabase, launchChromium } from '@x3dh-iot/testkit';
import pg from 'pg';
import { consoleAssetsDir } from '@x3dh-iot/console';
import fs from 'node:fs';
import { runOperatorOperation } from '../src/admin/operator_operations.js';
import { consoleLoginTokenDigest, newConsoleLoginToken } from '../src/console/console_login_token.js';
import { createLogger, parseServerConfig, startKeyServer } from '../src/index.js';
import { PostgresDatabase } from '../src/storage/postgres_database.js';

const options = new Command('console.bench')
  .addOption(new Option('--devices <n>', 'devices in the store').argParser(Number).default(100_000))
  .addOption(new Option('--prekeys <n>', 'one-time prekeys per device').argParser(Number).default(5))
  .addOption(new Option('--runs <n>', 'measured page loads and searches (the median is printed)').argParser(Number).default(5))
  .parse().opts<{ devices: number; prekeys: number; runs: number }>();

if (!fs.existsSync(consoleAssetsDir)) throw new Error('the console is not built: npm run build');

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => `${value.toFixed(0)} ms`;

const database = await createTestDatabase();
const log = createLogger('warn');
const server = await startKeyServer(parseServerConfig([
  '--database-url', database.url, '--embedded-broker-port', '0', '--http-port', '0', '--client-id', 'console-bench',
]), log);
const pool = new pg.Pool({ connectionString: database.url, max: 2 });
const browser = await launchChromium();
try {
  let started = performance.now();
  // Names device-000000...: 32-byte identity keys from two MD5s; every 20th a v1 device, every
  // 10th without a signed prekey, every 97th disabled, signed prekeys up to 60 days old, so that
  // the overview has states and alerts to show.
  await pool.query(
    `INSERT INTO users (username, identity_key, wire_protocol, signed_prekey_id, signed_prekey_uploaded_at, last_seen_at,
       queued_messages, disabled_at)
     SELECT 'device-' || lpad(i::text, 6, '0'), decode(md5(i::text) || md5((i + 1)::text), 'hex'), CASE WHEN i % 20 = 0 THEN 1 ELSE 2 END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE 1 END, now() - make_interval(days => i % 60), now() - make_interval(secs => i % 86400),
       i % 7, CASE WHEN i % 97 = 0 THEN now() END
     FROM generate_series(0, $1 - 1) AS i`, [options.devices]);
  await pool.query(
    `INSERT INTO one_time_prekeys (user_id, key_id, public_key)
     SELECT u.id, k, decode(md5(u.id::text || '.' || k), 'hex') || decode(md5(k::text), 'hex')
     FROM users u, generate_series(1, $1) AS k`, [options.prekeys]);
  await pool.query('ANALYZE');
  console.log(`filled ${options.devices} devices with ${options.prekeys} one-time prekeys each in ${ms(performance.now() - started)}`);

  const token = newConsoleLoginToken();
  const store = new PostgresDatabase({ url: database.url, ssl: undefined, poolSize: 1, connectTimeoutMs: 10_000 }, log);
  await store.transaction((sql) => runOperatorOperation(sql, 'console.token', {
    digest: consoleLoginTokenDigest(token).toString('base64url'), operator: 'bench', expiresInSeconds: 900,
  }, 'bench'));
  await store.close();

  const origin = `http://127.0.0.1:${server.httpPort}`;
  const page = await browser.newPage();
  await page.goto(`${origin}/console/`);
  await page.getByLabel('Login token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('table.devices tbody tr').first().waitFor();

  const overview: number[] = [];
  const search: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    started = performance.now();
    await page.goto(`${origin}/console/#/`);
    await page.reload();
    await page.locator('table.devices tbody tr').first().waitFor();
    overview.push(performance.now() - started);

    const wanted = `device-${String((run * 7919) % options.devices).padStart(6, '0').slice(0, 5)}`;
    started = performance.now();
    await page.getByLabel('Search devices').fill(wanted);
    await page.waitForFunction((prefix) => {
      const first = document.querySelector('table.devices tbody tr td');
      return first !== null && first.textContent!.startsWith(prefix);
    }, wanted);
    // The page waits 200 ms after the last key before it asks: that wait is part of what the operator sees.
    search.push(performance.now() - started);
  }
  console.log(`overview, load to first rows: median ${ms(median(overview))} (${overview.map(ms).join(', ')})`);
  console.log(`search by prefix, typed to rows: median ${ms(median(search))} (${search.map(ms).join(', ')}) incl. the page's 200 ms typing pause`);

  const cookies = await page.context().cookies();
  const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  const deep: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    const after = `device-${String(Math.floor(options.devices * (run + 1) / (options.runs + 1))).padStart(6, '0')}`;
    started = performance.now();
    const response = await fetch(`${origin}/console/api/devices?after=${after}&search=`, { headers: { cookie } });
    if (response.status !== 200) throw new Error(`deep page: ${response.status}`);
    await response.json();
    deep.push(performance.now() - started);
  }
  console.log(`API page of 50 deep in the fleet (keyset after a name): median ${ms(median(deep))} (${deep.map(ms).join(', ')})`);

  const plan = await pool.query(`EXPLAIN SELECT username FROM users u WHERE (u.username COLLATE "C") > 'device-050000'
    AND (u.username COLLATE "C") >= 'device-05' AND (u.username COLLATE "C") < 'device-05' || chr(1114111)
    ORDER BY (u.username COLLATE "C") LIMIT 51`);
  console.log(`page query plan:\n  ${plan.rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n  ')}`);
} finally {
  await browser.close();
  await server.close();
  await pool.end();
  await database.drop();
}
