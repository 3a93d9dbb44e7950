import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { encodeBase64url, generateKeyPair } from '@x3dh-iot/protocol';
import { createTestDatabase, startServer, V2TestDevice, type TestDatabase } from '@x3dh-iot/testkit';
import { lockDataDir } from '../src/storage/data_dir_lock.js';
import { admin, runAdmin } from './support/admin_cli.js';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

describe('operator commands on PostgreSQL', { timeout: 300_000 }, () => {
  let database: TestDatabase;
  let store: string[];
  let client: pg.Client;
  before(async () => {
    database = await createTestDatabase();
    store = ['--database-url', database.url];
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await database?.drop();
  });

  it('issues a token shown once and stores only its SHA-256 digest', async () => {
    const token = (await admin(store, 'token', 'issue', '--device', 'alice', '--expires-in', '7d', '--note', 'shelf 3')).trim();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    const { rows } = await client.query('SELECT * FROM enrolment_tokens');
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].token_digest, sha256(token));
    assert.equal(rows[0].device, 'alice');
    assert.equal(rows[0].note, 'shelf 3');
    assert.ok(rows[0].expires_at > new Date(Date.now() + 6 * 86_400_000));
    assert.doesNotMatch(JSON.stringify(rows), new RegExp(token.replace(/[-]/g, '\\-')), 'the token itself is nowhere in the row');

    const issued = JSON.parse(await admin(store, 'token', 'issue', '--json')) as Record<string, unknown>;
    assert.equal(typeof issued.token, 'string');
    assert.equal(issued.state, 'issued');
    assert.equal(issued.expires, null);
    assert.notEqual(issued.token, token);
  });

  it('lists tokens with their state and never the token; revokes unused ones', async () => {
    const token = JSON.parse(await admin(store, 'token', 'issue', '--json', '--note', 'to revoke')) as { id: string; token: string };
    await client.query("INSERT INTO enrolment_tokens (token_digest, expires_at) VALUES ($1, now() - interval '1 hour')", [randomBytes(32)]);
    await client.query("INSERT INTO enrolment_tokens (token_digest, used_at, used_by) VALUES ($1, now(), 'bob')", [randomBytes(32)]);
    assert.match(await admin(store, 'token', 'revoke', token.id), /revoked/);

    const list = await admin(store, 'token', 'list', '--json');
    assert.ok(!list.includes(token.token), 'no token in the list');
    const states = (JSON.parse(list) as { state: string; note: string | null; used_by: string | null }[]);
    assert.deepEqual(states.map((row) => row.state), ['issued', 'issued', 'revoked', 'expired', 'used']);
    assert.equal(states[4]!.used_by, 'bob');
    const table = await admin(store, 'token', 'list');
    assert.match(table, /^ID\s+STATE\s+DEVICE/);
    assert.match(table, /revoked\s+-\s+\S+\s+-\s+-\s+to revoke/);

    const again = await runAdmin(store, 'token', 'revoke', token.id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already revoked/);
    const used = await runAdmin(store, 'token', 'revoke', '5');
    assert.equal(used.code, 1);
    assert.match(used.stderr, /already used \(by bob/);
    const unknown = await runAdmin(store, 'token', 'revoke', '999');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no enrolment token 999/);
  });

  it('refuses wrong usage with exit code 2 and a reason', async () => {
    const results = await Promise.all([
      runAdmin(store, 'token', 'issue', '--expires-in', '3 fortnights'),
      runAdmin(store, 'token', 'issue', '--device', 'a/b'),
      runAdmin(store, 'token', 'revoke', 'x'),
      runAdmin(store, 'device', 'set-identity', 'alice', 'not-a-key'),
      runAdmin(store, 'device', 'set-identity', 'alice', encodeBase64url(new Uint8Array(32))),
    ]);
    for (const result of results) assert.equal(result.code, 2, result.stderr);
    assert.match(results[0]!.stderr, /7d, 24h, 30m or 90s/);
    assert.match(results[1]!.stderr, /device name/);
    assert.match(results[3]!.stderr, /identity key/);
    assert.match(results[4]!.stderr, /identity key: X25519 public key has small order/);
  });

  it("replaces a device's identity key, deletes its prekeys and keeps its mailbox", async () => {
    const oldKey = generateKeyPair().publicKey;
    // A key whose base64url begins with "-", which must follow "--" not to be read as an option.
    let newKey = generateKeyPair().publicKey;
    while (!encodeBase64url(newKey).startsWith('-')) newKey = generateKeyPair().publicKey;
    const { rows: [alice] } = await client.query(
      `INSERT INTO users (username, identity_key, signed_prekey, signed_prekey_signature, signed_prekey_id, max_signed_prekey_id, max_one_time_prekey_id)
       VALUES ('alice', $1, $2, $3, 4, 4, 11) RETURNING id`, [oldKey, randomBytes(32), randomBytes(64)]);
    const { rows: [bob] } = await client.query("INSERT INTO users (username, identity_key) VALUES ('bob', $1) RETURNING id", [randomBytes(32)]);
    await client.query('INSERT INTO one_time_prekeys (user_id, key_id, public_key) VALUES ($1, 10, $2), ($1, 11, $3)', [alice.id, randomBytes(32), randomBytes(32)]);
    await client.query('INSERT INTO one_time_prekeys (user_id, key_id, public_key) VALUES ($1, 1, $2)', [bob.id, randomBytes(32)]);
    await client.query(`INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
      VALUES ($1, $2, $3, 'session', $4, now() + interval '1 day')`, [alice.id, bob.id, randomBytes(16), randomBytes(40)]);

    const devices = JSON.parse(await admin(store, 'device', 'list', '--json')) as Record<string, unknown>[];
    assert.deepEqual(devices.map((d) => [d.device, d.identity_key, d.one_time_prekeys, d.mailbox_messages, d.signed_prekey_id]),
      [['alice', encodeBase64url(oldKey), 2, 1, 4], ['bob', devices[1]!.identity_key, 1, 0, null]]);

    assert.match(await admin([], 'device', 'set-identity', ...store, 'alice', '--', encodeBase64url(newKey)), /replaced/);
    const { rows: [after] } = await client.query('SELECT * FROM users WHERE username = $1', ['alice']);
    assert.deepEqual(new Uint8Array(after.identity_key), newKey);
    assert.equal(after.signed_prekey, null);
    assert.equal(after.signed_prekey_signature, null);
    assert.equal(after.signed_prekey_id, null);
    assert.equal(after.max_one_time_prekey_id, 11, 'prekey ids are still never reused');
    const counts = await client.query(`SELECT
      (SELECT count(*)::int FROM one_time_prekeys WHERE user_id = $1) AS alice_prekeys,
      (SELECT count(*)::int FROM one_time_prekeys WHERE user_id = $2) AS bob_prekeys,
      (SELECT count(*)::int FROM mailbox_messages WHERE recipient_id = $1) AS alice_mailbox`, [alice.id, bob.id]);
    assert.deepEqual(counts.rows[0], { alice_prekeys: 0, bob_prekeys: 1, alice_mailbox: 1 });

    const unknown = await runAdmin([], 'device', 'set-identity', ...store, 'carol', '--', encodeBase64url(newKey));
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no device named carol/);
  });
});

describe('operator commands on the embedded store', { timeout: 300_000 }, () => {
  let dataDir: string;
  before(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-admin-'));
  });
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('issues, lists and revokes tokens in the data directory', async () => {
    const store = ['--data-dir', dataDir];
    const token = (await admin(store, 'token', 'issue', '--expires-in', '30m')).trim();
    const listed = JSON.parse(await admin(store, 'token', 'list', '--json')) as { id: string; state: string }[];
    assert.deepEqual(listed.map((row) => [row.id, row.state]), [['1', 'issued']]);
    await admin(store, 'token', 'revoke', '1');
    const list = await admin(store, 'token', 'list');
    assert.match(list, /^1\s+revoked/m);
    assert.ok(!list.includes(token));
  });

  it('runs through the key server that holds the data directory: tokens it issues enrol devices at once', async () => {
    const serverDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-admin-served-'));
    const store = ['--data-dir', serverDir];
    const server = await startServer({ v1: false, args: [...store, '--embedded-broker-port', '0', '--http-port', '0', '--no-open-enrolment'] });
    let device: V2TestDevice | undefined;
    try {
      const socket = fs.statSync(path.join(serverDir, 'x3dh-server.sock'));
      assert.ok(socket.isSocket());
      assert.equal(socket.mode & 0o777, 0o600, 'the operator socket is its owner\'s only');

      const token = (await admin(store, 'token', 'issue', '--device', 'carol', '--note', 'while serving')).trim();
      device = await V2TestDevice.connect({ name: 'carol', brokerUrl: server.brokerUrl });
      const withoutToken = await device.enroll();
      assert.ok(!withoutToken.ok && withoutToken.error.code === 'enrolment_required', JSON.stringify(withoutToken));
      const enrolled = await device.enroll(token);
      assert.ok(enrolled.ok, JSON.stringify(enrolled));

      const tokens = JSON.parse(await admin(store, 'token', 'list', '--json')) as { id: string; state: string; used_by: string | null; note: string }[];
      assert.deepEqual(tokens.map((row) => [row.state, row.used_by, row.note]), [['used', 'carol', 'while serving']]);
      const refused = await runAdmin(store, 'token', 'revoke', tokens[0]!.id);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^x3dh-server: enrolment token 1 is already used \(by carol at /);

      // One line for a shell gives a device everything it is provisioned with.
      const exports = await admin(store, 'token', 'issue', '--device', 'dan', '--shell');
      assert.match(exports, /^export X3DH_ENROLMENT_TOKEN=[A-Za-z0-9_-]+\n/);
      assert.ok(exports.endsWith(`export X3DH_DEPLOYMENT_ID=${server.deploymentId} X3DH_OPERATOR_KEY=${server.operatorPublicKey}\n`), exports);

      const key = encodeBase64url(generateKeyPair().publicKey);
      await admin([], 'device', 'set-identity', ...store, 'carol', '--', key);
      const devices = JSON.parse(await admin(store, 'device', 'list', '--json')) as { device: string; identity_key: string }[];
      assert.deepEqual(devices.map((row) => [row.device, row.identity_key]), [['carol', key]]);
      const missing = await runAdmin([], 'device', 'set-identity', ...store, 'nobody', '--', key);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^x3dh-server: no device named nobody\n$/);
    } finally {
      await device?.close();
      await server.stop();
    }
    assert.ok(!fs.existsSync(path.join(serverDir, 'x3dh-server.sock')), 'the socket goes with the server');
    // With the server stopped, the command opens the store itself and sees the same data.
    assert.match(await admin(store, 'token', 'list'), /^1\s+used\s+carol/m);
    fs.rmSync(serverDir, { recursive: true, force: true });
  });

  it('refuses a data directory held by a process that takes no operator commands, saying what to do', async () => {
    // The lock a key server holds on its embedded store, without the server's operator socket.
    const lock = lockDataDir(dataDir);
    try {
      const result = await runAdmin(['--data-dir', dataDir], 'token', 'issue');
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '', 'no token printed');
      assert.match(result.stderr, new RegExp(`in use by process ${process.pid}, which takes no operator commands ` +
        '\\(nothing answers on .*x3dh-server\\.sock\\): stop it first, or run the key server on PostgreSQL'));
    } finally {
      lock.release();
    }
  });
});

describe('operator command help', () => {
  it('answers --help for every command', { timeout: 120_000 }, async () => {
    const commands = [['token'], ['token', 'issue'], ['token', 'list'], ['token', 'revoke'], ['device'], ['device', 'set-identity'], ['device', 'list'],
      ['device', 'disable'], ['device', 'enable'], ['device', 'delete']];
    const results = await Promise.all(commands.map((command) => runAdmin([], ...command, '--help')));
    for (const [index, result] of results.entries()) {
      const command = commands[index]!;
      assert.equal(result.code, 0, command.join(' '));
      assert.match(result.stdout, new RegExp(`^Usage: x3dh-server ${command.join(' ')} `, 'm'));
      if (command.length === 2) assert.match(result.stdout, /--database-url <url>[\s\S]*--data-dir <dir>[\s\S]*--json/);
    }
  });
});
