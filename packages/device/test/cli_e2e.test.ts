import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeBase64url, generateKeyPair, wireV1 } from '@x3dh-iot/protocol';
import { emptyDeviceState, FileKeyStore } from '../src/index.js';
import {
  startEmbedded, startEmbeddedWithClientCertificates, startMosquittoAndPostgres, type RunningKeyServer,
} from './support/key_server.js';
import { CLI_COMMAND, cliEnv, REPO_ROOT, runCli, runCliJson } from './support/run_cli.js';
import { tempDir } from './support/temp_dir.js';

/**
 * Two devices as separate CLI processes with separate key stores, through a real key server:
 * register, publish, users, init, inbox, and chat in both directions.
 */
async function twoDeviceConversation(server: RunningKeyServer, dir: string): Promise<void> {
  const v1 = { ...server.deviceEnv, X3DH_PROTOCOL: 'v1' };
  const alice = (args: string[], code = 0) => runCliJson(args, { ...v1, X3DH_STORE: join(dir, 'alice.json') }, code);
  const bob = (args: string[], code = 0) => runCliJson(args, { ...v1, X3DH_STORE: join(dir, 'bob.json') }, code);

  assert.deepEqual(await alice(['register', 'alice']), { ok: true, username: 'alice', renamedFrom: null, newIdentity: true });
  assert.deepEqual(await bob(['register', 'bob']), { ok: true, username: 'bob', renamedFrom: null, newIdentity: true });
  assert.deepEqual(await alice(['register']), { ok: true, username: 'alice', renamedFrom: null, newIdentity: false },
    're-registering the same name and key is the same device');
  assert.deepEqual(await bob(['publish']), { ok: true, signedPreKeyId: 1, oneTimePreKeyIds: [0, 1, 2, 3, 4] });
  assert.deepEqual(await alice(['publish']), { ok: true, signedPreKeyId: 1, oneTimePreKeyIds: [0, 1, 2, 3, 4] });
  assert.deepEqual(((await alice(['users'])).users as string[]).sort(), ['alice', 'bob']);

  assert.deepEqual(await alice(['init', 'bob', 'hello bob']), { ok: true, peer: 'bob', oneTimePreKeyId: 0, identityChanged: false });
  assert.deepEqual(await bob(['inbox']), { ok: true, session: { peer: 'alice', text: 'hello bob', identityChanged: false } });
  assert.deepEqual(await bob(['inbox']), { ok: true, session: null });

  assert.deepEqual(await bob(['send', 'alice', 'hi alice, über 🙂']), { ok: true, peer: 'alice' });
  assert.deepEqual(await alice(['read', 'bob']), { ok: true, peer: 'bob', messages: ['hi alice, über 🙂'], undecryptable: 0 });
  await alice(['send', 'bob', 'one']);
  await alice(['send', 'bob', 'two']);
  assert.deepEqual(await bob(['read', 'alice']), { ok: true, peer: 'alice', messages: ['one', 'two'], undecryptable: 0 });
  assert.deepEqual(await bob(['read', 'alice']), { ok: true, peer: 'alice', messages: [], undecryptable: 0 });

  const bobStatus = await bob(['status']);
  assert.deepEqual(bobStatus.sessions, [{ peer: 'alice', flashName: wireV1.sessionKeyNvsName('alice') }]);
  assert.deepEqual(bobStatus.oneTimePreKeyIds, [1, 2, 3, 4], 'the one-time prekey alice used is deleted');
  assert.deepEqual(bobStatus.signedPreKeyIds, [1]);

  const refused = await alice(['init', 'nobody', 'x'], 4);
  assert.deepEqual(refused.error, { kind: 'SERVER_REFUSED', message: 'server refused the bundle: Bundle not found' });
  assert.equal(((await alice(['send', 'carol', 'x'], 3)).error as { kind: string }).kind, 'NOT_READY');
}

async function watchConversation(server: RunningKeyServer, dir: string): Promise<void> {
  const env = (name: string) => ({ ...server.deviceEnv, X3DH_PROTOCOL: 'v1', X3DH_STORE: join(dir, `${name}.json`) });
  for (const name of ['carol', 'dave']) {
    await runCliJson(['register', name], env(name));
    await runCliJson(['publish'], env(name));
  }
  const watcher = spawn(CLI_COMMAND[0]!, [...CLI_COMMAND.slice(1), 'watch', '--json', '--interval', '200'],
    { cwd: REPO_ROOT, env: cliEnv(env('dave')), stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => watcher.on('exit', resolve));
  let output = '';
  watcher.stdout.on('data', (chunk) => (output += chunk));
  await runCliJson(['init', 'dave', 'are you there?'], env('carol'));
  await runCliJson(['send', 'dave', 'second'], env('carol'));
  for (let i = 0; i < 100 && output.split('\n').length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  watcher.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.deepEqual(output.trim().split('\n').map((line) => JSON.parse(line)), [
    { event: 'session', peer: 'carol', text: 'are you there?', identityChanged: false },
    { event: 'message', peer: 'carol', text: 'second' },
  ]);
}

/**
 * The same with wire protocol v2 (the default): enrol (with a token where the server wants one), then the same steps.
 * Other names than v1's: both protocols share the server's directory, and a name belongs to one key.
 */
async function twoDeviceConversationV2(server: RunningKeyServer, dir: string): Promise<void> {
  const ada = (args: string[], code = 0) => runCliJson(args, { ...server.deviceEnv, X3DH_STORE: join(dir, 'ada.json') }, code);
  const ben = (args: string[], code = 0) => runCliJson(args, { ...server.deviceEnv, X3DH_STORE: join(dir, 'ben.json') }, code);
  const token = async () => {
    const issued = await server.issueToken();
    return issued === null ? [] : [`--token=${issued}`];
  };

  const adaToken = await token();
  if (adaToken.length > 0) {
    const refused = await ada(['enroll', 'ada', '--token=not-a-token-the-operator-issued'], 4);
    assert.equal((refused.error as { kind: string }).kind, 'SERVER_REFUSED');
    const status = await ada(['status']);
    assert.deepEqual([status.username, status.identityKey], [null, null], 'a refused enrolment leaves neither the name nor a key behind');
  }
  assert.deepEqual(await ada(['enroll', 'ada', ...adaToken]), { ok: true, username: 'ada', renamedFrom: null, newIdentity: true });
  assert.deepEqual(await ben(['enroll', 'ben', ...await token()]), { ok: true, username: 'ben', renamedFrom: null, newIdentity: true });
  assert.deepEqual(await ada(['enroll']), { ok: true, username: 'ada', renamedFrom: null, newIdentity: false },
    'enrolling again with the same key needs no token');
  const published = await ben(['publish']);
  assert.equal(published.signedPreKeyId, 1);
  assert.deepEqual(published.oneTimePreKeyIds, Array.from({ length: 50 }, (_, i) => i));
  await ada(['publish', '--count', '5']);
  const users = (await ada(['users'])).users as string[];
  assert.ok(users.includes('ada') && users.includes('ben'), users.join(' '));

  assert.deepEqual(await ada(['start', 'ben', 'hello ben']), { ok: true, peer: 'ben', oneTimePreKeyId: 0, identityChanged: false, certifiedRotation: false });
  assert.deepEqual(await ben(['inbox']), { ok: true, session: { peer: 'ada', text: 'hello ben', identityChanged: false }, problems: [] });
  assert.deepEqual(await ben(['inbox']), { ok: true, session: null, problems: [] });

  assert.deepEqual(await ben(['send', 'ada', 'hi ada, über 🙂']), { ok: true, peer: 'ada' });
  assert.deepEqual(await ada(['read', 'ben']), { ok: true, peer: 'ben', messages: ['hi ada, über 🙂'], undecryptable: 0 });
  await ada(['send', 'ben', 'one']);
  await ada(['send', 'ben', 'two']);
  assert.deepEqual(await ben(['read', 'ada']), { ok: true, peer: 'ada', messages: ['one', 'two'], undecryptable: 0 });
  assert.deepEqual(await ben(['read', 'ada']), { ok: true, peer: 'ada', messages: [], undecryptable: 0 });

  const numberAtAda = await ada(['safety-number', 'ben']);
  const numberAtBen = await ben(['safety-number', 'ada']);
  assert.match(numberAtAda.safetyNumber as string, /^\d{60}$/);
  assert.equal(numberAtAda.safetyNumber, numberAtBen.safetyNumber);

  const benStatus = await ben(['status', '--server']);
  assert.deepEqual((benStatus.sessions as { peer: string }[]).map((s) => s.peer), ['ada']);
  assert.equal(benStatus.oneTimePreKeysHeld, 49, 'the one-time prekey ada used is deleted');
  assert.equal((benStatus.server as { one_time_prekeys: number }).one_time_prekeys, 49);
  assert.equal((benStatus.signedPreKey as { id: number }).id, 1);

  const refused = await ada(['init', 'nobody', 'x'], 4);
  assert.equal((refused.error as { kind: string }).kind, 'SERVER_REFUSED');
  assert.match((refused.error as { message: string }).message, /unknown_device/);
  assert.equal(((await ada(['send', 'carol', 'x'], 3)).error as { kind: string }).kind, 'NOT_READY');
}

/** v2's watch takes pushes: the handshake and the message show up without anyone polling for them. */
async function watchConversationV2(server: RunningKeyServer, dir: string): Promise<void> {
  const env = (name: string) => ({ ...server.deviceEnv, X3DH_STORE: join(dir, `${name}.json`) });
  for (const name of ['erin', 'frank']) {
    const issued = await server.issueToken();
    await runCliJson(['enroll', name, ...(issued === null ? [] : [`--token=${issued}`])], env(name));
    await runCliJson(['publish', '--count', '3'], env(name));
  }
  // The safety-net poll is far off: what arrives comes by push.
  const watcher = spawn(CLI_COMMAND[0]!, [...CLI_COMMAND.slice(1), 'watch', '--json', '--interval', '600000'],
    { cwd: REPO_ROOT, env: cliEnv(env('frank')), stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => watcher.on('exit', resolve));
  let output = '';
  watcher.stdout.on('data', (chunk) => (output += chunk));
  // The watcher is subscribed once its first mailbox read is done; a message sent before that is read then anyway.
  await runCliJson(['init', 'frank', 'are you there?'], env('erin'));
  await runCliJson(['send', 'frank', 'second'], env('erin'));
  for (let i = 0; i < 600 && output.split('\n').length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  watcher.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.deepEqual(output.trim().split('\n').map((line) => JSON.parse(line)), [
    { event: 'session', peer: 'erin', text: 'are you there?', identityChanged: false },
    { event: 'message', peer: 'erin', text: 'second' },
  ]);
}

/**
 * The operator gives gus's name a new identity key (a replaced device). hal, without an operator key
 * and set to trust on first use, has gus pinned: the safety number shows the change with a loud
 * warning, and the replaced device's first message is refused (exit 8, kept in the mailbox) until
 * hal accepts the new key with `trust`. (A provisioned device takes the operator's certified key:
 * rotatedIdentity.)
 */
async function changedIdentity(server: RunningKeyServer, dir: string): Promise<void> {
  const env = (store: string) => ({ ...server.deviceEnv, X3DH_STORE: join(dir, `${store}.json`) });
  const unverified = (store: string) => ({
    ...Object.fromEntries(Object.entries(env(store)).filter(([name]) => name !== 'X3DH_OPERATOR_KEY')), X3DH_TRUST_ON_FIRST_USE: 'yes',
  });
  const gus = (args: string[], code = 0) => runCliJson(args, env('gus'), code);
  const hal = (args: string[], code = 0) => runCliJson(args, unverified('hal'), code);
  await gus(['enroll', 'gus', `--token=${(await server.issueToken())!}`]);
  await hal(['enroll', 'hal', `--token=${(await server.issueToken())!}`]);
  await gus(['publish', '--count', '3']);
  await hal(['publish', '--count', '3']);
  await gus(['start', 'hal', 'hello from the first gus']);
  assert.equal(((await hal(['inbox'])).session as { text: string }).text, 'hello from the first gus');
  const before = await hal(['safety-number', 'gus']);

  // The replacement device: a new identity key in a new key store, registered by the operator.
  const replacement = generateKeyPair();
  const store = await FileKeyStore.open(join(dir, 'gus-new.json'));
  await store.save({ ...emptyDeviceState(), username: 'gus', identity: replacement });
  await store.close();
  await server.operator!(['device', 'set-identity', 'gus', '--', encodeBase64url(replacement.publicKey)]);
  const gusNew = (args: string[], code = 0) => runCliJson(args, env('gus-new'), code);
  await gusNew(['publish', '--count', '3']);

  const changed = await hal(['safety-number', 'gus']);
  assert.equal(changed.changed, true);
  assert.equal(changed.safetyNumber, before.safetyNumber, 'the pinned key still gives the old number');
  assert.notEqual(changed.directorySafetyNumber, before.safetyNumber);
  const text = await runCli(['safety-number', 'gus'], unverified('hal'));
  assert.match(text.stdout, /WARNING: the directory now holds ANOTHER identity key for gus/);

  await gusNew(['start', 'hal', 'hello from the new gus']);
  const refused = await hal(['inbox'], 8);
  assert.equal((refused.error as { kind: string }).kind, 'IDENTITY_CHANGED');
  assert.match((refused.error as { message: string }).message, /WARNING: gus's identity key has CHANGED .* Refused/);
  assert.equal(((await hal(['start', 'gus', 'x'], 8)).error as { kind: string }).kind, 'IDENTITY_CHANGED');

  const typo = await runCli(['trust', 'gus', changed.safetyNumber as string], unverified('hal'));
  assert.equal(typo.code, 6, 'the old key\'s number pins nothing');
  const trusted = await runCli(['trust', 'gus', ...(changed.directorySafetyNumber as string).match(/\d{5}/g)!], unverified('hal'));
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.match(trusted.stdout, /WARNING: gus's pinned identity key .* is REPLACED by/);
  assert.deepEqual(await hal(['inbox']), {
    ok: true, session: { peer: 'gus', text: 'hello from the new gus', identityChanged: false }, problems: [],
  }, 'the refused message waited in the mailbox');
  assert.equal((await hal(['safety-number', 'gus'])).safetyNumber, changed.directorySafetyNumber);
}

/**
 * A device replaces its own identity key (identity.rotate with the new key's proof); its peer,
 * provisioned with the operator key, takes the new key at the next epoch without a person.
 */
async function rotatedIdentity(server: RunningKeyServer, dir: string): Promise<void> {
  const env = (name: string) => ({ ...server.deviceEnv, X3DH_STORE: join(dir, `${name}.json`) });
  const kim = (args: string[], code = 0) => runCliJson(args, env('kim'), code);
  const lee = (args: string[], code = 0) => runCliJson(args, env('lee'), code);
  for (const [device, name] of [[kim, 'kim'], [lee, 'lee']] as const) {
    const issued = await server.issueToken();
    await device(['enroll', name, ...(issued === null ? [] : [`--token=${issued}`])]);
    await device(['publish', '--count', '3']);
  }
  await kim(['start', 'lee', 'before']);
  assert.equal(((await lee(['inbox'])).session as { text: string }).text, 'before');
  const before = await kim(['status']);

  assert.equal(((await kim(['rotate-identity'], 2)).error as { message: string }).message.includes('--yes'), true);
  const rotated = await kim(['rotate-identity', '--yes']);
  assert.notEqual(rotated.identityKey, before.identityKey);
  assert.equal((await kim(['status'])).identityKey, rotated.identityKey);
  assert.equal((await lee(['start', 'kim', 'after'])).certifiedRotation, true);
  assert.match((await runCli(['status'], env('lee'))).stdout, /Certified rotation: kim's identity key was replaced at .* \(epoch 2\), accepted without a person/);
  assert.equal(((await kim(['inbox'])).session as { text: string }).text, 'after');
}

describe('two CLI devices through the key server on Mosquitto (TLS 1.3) and PostgreSQL', () => {
  let server: RunningKeyServer;
  before(async () => { server = await startMosquittoAndPostgres(); });
  after(() => server?.stop());
  test('v1: register, publish, users, init, inbox and chat both ways', (t) => twoDeviceConversation(server, tempDir(t)));
  test('v1: watch prints incoming handshakes and messages as they arrive and stops cleanly on SIGTERM', (t) => watchConversation(server, tempDir(t)));
  test('v2: enrol with tokens, publish, users, start chat, inbox, chat both ways, safety numbers, status', (t) => twoDeviceConversationV2(server, tempDir(t)));
  test('v2: watch shows pushed handshakes and messages and stops cleanly on SIGTERM', (t) => watchConversationV2(server, tempDir(t)));
  test('v2: identity rotation through the server: the peer takes the operator-certified new key without a person and says so', (t) => rotatedIdentity(server, tempDir(t)));
  test('security-v2 items 11 and 13: an identity key changed by the operator gives another safety number, a loud warning and refused handshakes until trusted',
    (t) => changedIdentity(server, tempDir(t)));
});

describe('two CLI devices through the key server on its embedded defaults (embedded broker, embedded PostgreSQL)', () => {
  let server: RunningKeyServer;
  before(async () => { server = await startEmbedded(); });
  after(() => server?.stop());
  test('v1: register, publish, users, init, inbox and chat both ways', (t) => twoDeviceConversation(server, tempDir(t)));
  test('v2: open enrolment, publish, users, start chat, inbox, chat both ways, safety numbers, status', (t) => twoDeviceConversationV2(server, tempDir(t)));
  test('v2: watch shows pushed handshakes and messages and stops cleanly on SIGTERM', (t) => watchConversationV2(server, tempDir(t)));
});

describe('two CLI devices with client certificates through the embedded broker (TLS 1.3, per-device rules, tokens)', () => {
  let server: Awaited<ReturnType<typeof startEmbeddedWithClientCertificates>>;
  before(async () => { server = await startEmbeddedWithClientCertificates(['ivy', 'jay']); });
  after(() => server?.stop());

  test('v2: each device enrols under its certificate\'s name and they chat; a device cannot act under another\'s certificate', async (t) => {
    const dir = tempDir(t);
    const ivy = (args: string[], code = 0) => runCliJson(args, { ...server.deviceEnvAs('ivy'), X3DH_STORE: join(dir, 'ivy.json') }, code);
    const jay = (args: string[], code = 0) => runCliJson(args, { ...server.deviceEnvAs('jay'), X3DH_STORE: join(dir, 'jay.json') }, code);
    await ivy(['enroll', 'ivy', `--token=${server.tokens.ivy}`]);
    await jay(['enroll', 'jay', `--token=${server.tokens.jay}`]);
    await jay(['publish', '--count', '3']);
    await ivy(['publish', '--count', '3']);
    await ivy(['start', 'jay', 'over certificates']);
    assert.equal(((await jay(['inbox'])).session as { text: string }).text, 'over certificates');
    await jay(['send', 'ivy', 'back']);
    assert.deepEqual((await ivy(['read', 'jay'])).messages, ['back']);

    // jay's key store with ivy's certificate: the broker refuses the client id jay under ivy's name.
    const impostor = await runCliJson(['users'], { ...server.deviceEnvAs('ivy'), X3DH_STORE: join(dir, 'jay.json'), X3DH_TIMEOUT_MS: '3000' }, 2);
    assert.equal((impostor.error as { kind: string }).kind, 'INVALID_INPUT');
    assert.match((impostor.error as { message: string }).message, /refused the connection \(.*Client Identifier not valid\): the client certificate must name this device/);
  });
});
