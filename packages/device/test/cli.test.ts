import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Device, MemoryKeyStore, resolveConnectionSettings, V1Client } from '../src/index.js';
import type { CliDevice } from '../src/cli/cli_options.js';
import { runMenu } from '../src/cli/menu.js';
import { Prompter } from '../src/cli/prompter.js';
import { FakeV1Server } from './support/fake_v1_server.js';
import { FakeV2Server } from './support/fake_v2_server.js';
import { enrolled, openV2 } from './support/v2_devices.js';
import { REPO_ROOT, runCli, runCliJson } from './support/run_cli.js';
import { tempDir } from './support/temp_dir.js';
import { freePort } from '@x3dh-iot/testkit';

test('--help lists every subcommand, setting and environment variable, and the exit codes', async () => {
  const { code, stdout } = await runCli(['--help']);
  assert.equal(code, 0);
  for (const word of ['register', 'publish', 'users', 'init <peer> <text>', 'inbox', 'send <peer> <text>', 'read <peer>', 'reset',
    'X3DH_STORE', 'X3DH_BROKER_URL', 'X3DH_CA_FILE', 'X3DH_CERT_FILE', 'X3DH_KEY_FILE', 'X3DH_CONFIG', 'X3DH_TIMEOUT_MS', 'X3DH_PASSPHRASE',
    'X3DH_PROTOCOL', 'X3DH_DEPLOYMENT_ID', 'X3DH_OPERATOR_KEY', 'X3DH_TRUST_ON_FIRST_USE', 'safety-number <peer>', 'trust <peer>', 'watch', 'Exit codes', '8  a peer\'s identity key changed']) {
    assert.ok(stdout.includes(word), `--help does not mention ${word}`);
  }
  const sub = await runCli(['send', '--help']);
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /Usage: x3dh-device send \[options\] <peer> <text>/);
  assert.match(sub.stdout, /--store <path>/);
  const enroll = await runCli(['enroll', '--help']);
  assert.match(enroll.stdout, /--token <token> .*X3DH_ENROLMENT_TOKEN/s);
});

test('the README\'s command (npm run device) runs the CLI from its TypeScript sources', async () => {
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'device', '--', '--help'], { cwd: REPO_ROOT });
  assert.match(stdout, /^Usage: x3dh-device /m);
});

test('output into a pipe whose reader has gone (| head) is dropped quietly: no stack trace, exit code of the command', async () => {
  const { code, stderr } = await runCli(['--help'], {}, { closedOutput: true });
  assert.equal(stderr, '');
  assert.equal(code, 0);
});

test('usage errors exit with 2 and no stack trace', async () => {
  for (const args of [['init', 'bob'], ['frobnicate'], ['users', '--no-such-flag'], ['users', '--broker', 'mqtt://example.com:1883']]) {
    const { code, stderr } = await runCli(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.doesNotMatch(stderr, /\n\s+at /, 'stack trace printed');
  }
});

test('v1: local steps work without a broker; network steps report the broker as unreachable (exit 5)', async (t) => {
  const store = join(tempDir(t), 'device.json');
  const env = { X3DH_STORE: store, X3DH_BROKER_URL: `mqtt://127.0.0.1:${await freePort()}`, X3DH_TIMEOUT_MS: '2000', X3DH_PROTOCOL: 'v1' };
  const noStore = await runCliJson(['status'], env, 3);
  assert.match((noStore.error as { message: string }).message, /^no key store at .*device\.json: check --store/);
  const unreachable = await runCliJson(['register', 'alice'], env, 5);
  assert.equal((unreachable.error as { kind: string }).kind, 'UNREACHABLE');
  const status = await runCliJson(['status'], env);
  assert.equal(status.username, 'alice');
  assert.equal(typeof status.identityKey, 'string', 'the identity key is kept although registration failed');
  assert.equal(((await runCliJson(['publish', '--count', '101'], env, 2)).error as { kind: string }).kind, 'INVALID_INPUT');
  assert.deepEqual(await runCliJson(['reset'], env), { ok: true });
  assert.equal((await runCliJson(['status'], env)).username, null);
  assert.equal((await runCliJson(['status'], env)).identityKey, status.identityKey, 'reset keeps the keys');
  const notReady = await runCliJson(['send', 'bob', 'hi'], env, 3);
  assert.deepEqual(notReady, { ok: false, error: { kind: 'NOT_READY', message: 'no username set' } });
});

test('v2 (the default): local steps work without a broker, v2 names are checked, network steps report the broker as unreachable', async (t) => {
  const store = join(tempDir(t), 'device.json');
  const env = { X3DH_STORE: store, X3DH_BROKER_URL: `mqtt://127.0.0.1:${await freePort()}`, X3DH_TIMEOUT_MS: '2000', X3DH_DEPLOYMENT_ID: 'x3dh-test' };
  assert.equal(((await runCliJson(['status'], env, 3)).error as { kind: string }).kind, 'NOT_READY', 'status does not create a store');
  assert.equal(((await runCliJson(['register', 'not/a/name'], env, 2)).error as { kind: string }).kind, 'INVALID_INPUT');
  const unprovisioned = Object.fromEntries(Object.entries(env).filter(([name]) => name !== 'X3DH_DEPLOYMENT_ID'));
  const notProvisioned = await runCliJson(['enroll', 'alice', '--token', 'abc'], unprovisioned, 3);
  assert.match((notProvisioned.error as { message: string }).message, /no deployment id provisioned.*--deployment-id, --operator-key/);
  const unreachable = await runCliJson(['enroll', 'alice', '--token', 'abc'], env, 5);
  assert.equal((unreachable.error as { kind: string }).kind, 'UNREACHABLE');
  const status = await runCliJson(['status'], env);
  assert.equal(status.username, 'alice');
  assert.equal(status.signedPreKey, null);
  assert.equal(status.oneTimePreKeysHeld, 0);
  assert.equal(typeof status.identityKey, 'string', 'the identity key is kept although enrolment failed');
  assert.equal(((await runCliJson(['safety-number', 'bob'], { ...env, X3DH_PROTOCOL: 'v1' }, 2)).error as { message: string }).message,
    'safety-number needs wire protocol v2 (drop --protocol v1)');
  assert.equal(((await runCliJson(['delete-device'], env, 2)).error as { message: string }).message.includes('--yes'), true);
});

test('an encrypted store needs its passphrase (exit 7 without it or with a wrong one)', async (t) => {
  const dir = tempDir(t);
  const store = join(dir, 'device.json');
  const passphraseFile = join(dir, 'passphrase');
  writeFileSync(passphraseFile, 'correct horse\n');
  await runCliJson(['register', 'alice', '--timeout', '200', '--broker', `mqtt://127.0.0.1:${await freePort()}`],
    { X3DH_STORE: store, X3DH_PASSPHRASE: 'correct horse', X3DH_DEPLOYMENT_ID: 'x3dh-test' }, 5);
  assert.equal((await runCliJson(['status', '--passphrase-file', passphraseFile], { X3DH_STORE: store })).username, 'alice');
  const missing = await runCliJson(['status'], { X3DH_STORE: store }, 7);
  assert.match((missing.error as { message: string }).message, /is encrypted: a passphrase is needed/);
  const wrong = await runCliJson(['status'], { X3DH_STORE: store, X3DH_PASSPHRASE: 'battery staple' }, 7);
  assert.match((wrong.error as { message: string }).message, /wrong passphrase/);
});

test('connection settings: flags over environment over config file over defaults', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'device-config.json');
  writeFileSync(config, JSON.stringify({ brokerUrl: 'mqtts://file.example:8883', caFile: 'ca.pem', timeoutMs: 3000 }));
  const unprovisioned = { deploymentId: undefined, operatorKey: undefined, trustOnFirstUse: undefined };
  assert.deepEqual(await resolveConnectionSettings({}, {}), {
    brokerUrl: 'mqtt://127.0.0.1:1884', caFile: undefined, certFile: undefined, keyFile: undefined, timeoutMs: 10_000, ...unprovisioned,
  });
  assert.deepEqual(await resolveConnectionSettings({ configFile: config }, {}), {
    brokerUrl: 'mqtts://file.example:8883', caFile: join(dir, 'ca.pem'), certFile: undefined, keyFile: undefined, timeoutMs: 3000, ...unprovisioned,
  });
  const env = { X3DH_CONFIG: config, X3DH_BROKER_URL: 'mqtts://env.example:8883', X3DH_TIMEOUT_MS: '4000' };
  const fromEnv = await resolveConnectionSettings({}, env);
  assert.equal(fromEnv.brokerUrl, 'mqtts://env.example:8883');
  assert.equal(fromEnv.timeoutMs, 4000);
  assert.equal(fromEnv.caFile, join(dir, 'ca.pem'));
  const fromFlags = await resolveConnectionSettings({ brokerUrl: 'mqtts://flag.example:8883', timeoutMs: '5000' }, env);
  assert.equal(fromFlags.brokerUrl, 'mqtts://flag.example:8883');
  assert.equal(fromFlags.timeoutMs, 5000);
  await assert.rejects(resolveConnectionSettings({ brokerUrl: 'mqtt://192.0.2.1:1883' }, {}), /loopback only/);
  await assert.rejects(resolveConnectionSettings({ brokerUrl: 'ws://192.0.2.1:1885/mqtt' }, {}), /plain ws:\/\/ is allowed on loopback only/);
  assert.equal((await resolveConnectionSettings({ brokerUrl: 'wss://broker.example:8885/mqtt' }, {})).brokerUrl, 'wss://broker.example:8885/mqtt');
  assert.equal((await resolveConnectionSettings({ brokerUrl: 'ws://127.0.0.1:1885/mqtt' }, {})).brokerUrl, 'ws://127.0.0.1:1885/mqtt');
  await assert.rejects(resolveConnectionSettings({ brokerUrl: 'https://broker.example' }, {}), /must start with mqtts:\/\/, mqtt:\/\/, wss:\/\/ or ws:\/\//);
  await assert.rejects(resolveConnectionSettings({ timeoutMs: 'soon' }, {}), /timeout/);
  // Provisioning (docs/protocol-v2.md section 6.11) by the same layers.
  writeFileSync(config, JSON.stringify({ deploymentId: 'plant-7', operatorKey: 'B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9_Asrhtg', trustOnFirstUse: true }));
  const provisioned = await resolveConnectionSettings({ deploymentId: 'plant-8' }, { X3DH_CONFIG: config, X3DH_TRUST_ON_FIRST_USE: 'no' });
  assert.deepEqual([provisioned.deploymentId, provisioned.operatorKey, provisioned.trustOnFirstUse],
    ['plant-8', 'B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9_Asrhtg', false]);
  await assert.rejects(resolveConnectionSettings({}, { X3DH_TRUST_ON_FIRST_USE: 'maybe' }), /trust on first use must be yes or no/);
  writeFileSync(config, '{"brokerURL": "typo"}');
  await assert.rejects(resolveConnectionSettings({ configFile: config }, {}), /config file .*Unrecognized key: "brokerURL"/);
  writeFileSync(config, '{"caFile": 5}');
  await assert.rejects(resolveConnectionSettings({ configFile: config }, {}), /config file .*: caFile: .*expected string/);
  writeFileSync(config, '{"timeoutMs": "soon"}');
  await assert.rejects(resolveConnectionSettings({ configFile: config }, {}), /config file .*: timeoutMs: /);
});

test('mistakes at the command line get a message that says what to do', async (t) => {
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'; the commands are: menu, register, .*send.* \(x3dh-device --help\)/);
  const store = join(tempDir(t), 'device.json');
  const env = { X3DH_STORE: store, X3DH_BROKER_URL: `mqtt://127.0.0.1:${await freePort()}`, X3DH_TIMEOUT_MS: '500', X3DH_DEPLOYMENT_ID: 'x3dh-test' };
  await runCliJson(['register', 'alice'], env, 5);
  assert.deepEqual(await runCliJson(['send', 'bob', ''], env, 2), {
    ok: false, error: { kind: 'INVALID_INPUT', message: 'the message is empty: nothing was sent' },
  });
});

test('the menu says what is missing before asking for a peer and a message', async () => {
  const device = await Device.open(new MemoryKeyStore(), new V1Client(new FakeV1Server().requester()));
  const printed = await menuSession(device, ['alice', '6', '4', '7', 'q']);
  assert.equal(printed.match(/Error: no identity key yet: choose \(1\) Register Identity first/g)?.length, 3);
  assert.doesNotMatch(printed, /Enter name of peer/);
});

/** Drives the menu in-process through its line reader, as a person at a terminal would. */
async function menuSession(device: CliDevice, answers: string[]): Promise<string> {
  const input = new PassThrough();
  const output = new PassThrough();
  let printed = '';
  output.on('data', (chunk) => (printed += chunk));
  const prompter = new Prompter(input, output);
  input.end(answers.map((a) => `${a}\n`).join(''));
  await runMenu(device, prompter, (text) => output.write(`${text}\n`));
  prompter.close();
  return printed;
}

test('the menu has the firmware\'s wording and runs a handshake with one message each way', async () => {
  const server = new FakeV1Server();
  const open = () => Device.open(new MemoryKeyStore(), new V1Client(server.requester()));
  const [alice, bob] = [await open(), await open()];
  const bobSetup = await menuSession(bob, ['bob', '1', '2']);
  assert.match(bobSetup, /--- Setup ---\nNo username found in the key store\.\nPlease enter your desired username: /);
  assert.ok(bobSetup.includes([
    '=========================================', ' User: bob', '=========================================',
    ' (1) Register Identity', ' (2) Publish Bundle', ' (3) List Users', ' (4) Start Chat (Init X3DH)',
    ' (5) Check Inbox (Accept X3DH)', ' (6) Send Message', ' (7) Read Messages', ' (r) Reset Username',
  ].join('\n')));
  assert.match(bobSetup, / Enter choice: /);
  assert.match(bobSetup, /Bundle published: signed prekey 1, one-time prekeys 0-4\./);

  const aliceInit = await menuSession(alice, ['alice', '1', '2', '3', '4', 'bob', 'hello bob', '9', '6', 'nobody', 'x']);
  assert.match(aliceInit, / \* alice \(You\)\n/);
  assert.match(aliceInit, / - bob\n/);
  assert.match(aliceInit, /Enter initial message for bob: Shared Key calculated\. Initial message sent to bob \(one-time prekey 0\)\./);
  assert.match(aliceInit, /Unknown command\./);
  // Asked for the peer, told at once that there is no session, not asked for a message first.
  assert.match(aliceInit, /Enter name of peer: Error: no session with nobody: start one with \(4\) Start Chat/);

  const bobChat = await menuSession(bob, ['5', '6', 'alice', 'hi alice', '7', 'alice']);
  assert.match(bobChat, /--- Message from alice ---\nhello bob\n-----------------------/);
  assert.match(bobChat, /Message: Message sent\./);
  assert.match(bobChat, /No new messages from alice/);

  const aliceRead = await menuSession(alice, ['7', 'bob', 'r', 'alice2', 'q']);
  assert.match(aliceRead, /\[bob\]: hi alice/);
  assert.match(aliceRead, /Username erased\.\n\n--- Setup ---/);
  assert.match(aliceRead, / User: alice2/);
  for (const out of [bobSetup, aliceInit, bobChat, aliceRead]) assert.doesNotMatch(out, /\n\s+at /);
});

test('v2 menu: the same words; Register Identity asks for the enrolment token the server wants', async () => {
  const server = new FakeV2Server();
  const bob = await enrolled(server, 'bob');
  server.openEnrolment = false;
  server.tokens.add('-starts-with-a-dash');
  const alice = await openV2(server, null);
  const setup = await menuSession(alice, ['alice', '1', '-starts-with-a-dash', '2', '4', 'bob', 'hello bob', 'q']);
  assert.match(setup, /Enrolment token \(from the operator\): Generated new Identity Keys\.\nIdentity registered successfully as 'alice'\./);
  assert.match(setup, /Bundle published: signed prekey 1, one-time prekeys 0-49\./);
  assert.match(setup, /Initial message sent to bob \(one-time prekey 0\)\./);
  const chat = await menuSession(bob, ['5', '6', 'alice', 'hi alice', 'q']);
  assert.match(chat, /--- Message from alice ---\nhello bob\n-----------------------/);
  assert.match(await menuSession(alice, ['7', 'bob', 'q']), /\[bob\]: hi alice/);
});
