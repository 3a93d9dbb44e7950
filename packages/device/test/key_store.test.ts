import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKeyPair, xeddsaSign } from '@x3dh-iot/protocol';
import { DeviceError, emptyDeviceState, FileKeyStore, type DeviceState } from '../src/index.js';
import { tempDir } from './support/temp_dir.js';

const FAST_SCRYPT = { N: 2 ** 10, r: 8, p: 1 };

function sampleState(): DeviceState {
  const state = emptyDeviceState();
  const identity = generateKeyPair();
  const spk = generateKeyPair();
  state.username = 'alice';
  state.identity = identity;
  state.signedPreKeys.push({ id: 1, keyPair: spk, signature: xeddsaSign(identity.privateKey, spk.publicKey), createdAt: new Date() });
  state.nextSignedPreKeyId = 2;
  for (let id = 0; id < 5; id++) state.oneTimePreKeys.set(id, generateKeyPair());
  state.nextOneTimePreKeyId = 5;
  state.sessions.set('bob', {
    peer: 'bob', sharedKey: generateKeyPair().privateKey, peerIdentityKey: generateKeyPair().publicKey,
    role: 'initiator', establishedAt: new Date(),
  });
  return state;
}

async function roundTrip(path: string, state: DeviceState, passphrase?: string): Promise<DeviceState> {
  const writer = await FileKeyStore.open(path, { passphrase, scrypt: FAST_SCRYPT });
  await writer.save(state);
  await writer.close();
  const reader = await FileKeyStore.open(path, { passphrase });
  try {
    return await reader.load();
  } finally {
    await reader.close();
  }
}

async function loadError(path: string, passphrase?: string): Promise<DeviceError> {
  const store = await FileKeyStore.open(path, { passphrase });
  try {
    await store.load();
  } catch (error) {
    assert.ok(error instanceof DeviceError, `expected a DeviceError, got ${String(error)}`);
    return error;
  } finally {
    await store.close();
  }
  assert.fail('load succeeded');
}

test('a missing store loads as an empty state', async (t) => {
  const store = await FileKeyStore.open(join(tempDir(t), 'nested', 'device.json'));
  t.after(() => store.close());
  assert.deepEqual(await store.load(), emptyDeviceState());
});

test('state survives a save and a reopen, public keys derived again', async (t) => {
  const state = sampleState();
  assert.deepEqual(await roundTrip(join(tempDir(t), 'device.json'), state), state);
});

test('the file and its directory are private even under a permissive umask', async (t) => {
  const dir = join(tempDir(t), 'store');
  const previous = process.umask(0);
  try {
    await roundTrip(join(dir, 'device.json'), sampleState());
  } finally {
    process.umask(previous);
  }
  assert.equal(statSync(join(dir, 'device.json')).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
});

test('an encrypted store holds no key material in clear and opens with the passphrase', async (t) => {
  const path = join(tempDir(t), 'device.json');
  const state = sampleState();
  assert.deepEqual(await roundTrip(path, state, 'correct horse'), state);
  const text = readFileSync(path, 'utf8');
  assert.ok(!text.includes('alice'), 'username visible in an encrypted store');
  assert.ok(!text.includes(Buffer.from(state.identity!.privateKey).toString('base64url')));
  assert.equal(await FileKeyStore.isEncrypted(path), true);
});

test('a wrong or missing passphrase is a clear key-store error', async (t) => {
  const path = join(tempDir(t), 'device.json');
  await roundTrip(path, sampleState(), 'correct horse');
  assert.match((await loadError(path, 'battery staple')).message, /wrong passphrase/);
  assert.match((await loadError(path)).message, /is encrypted: a passphrase is needed/);
});

test('weakened KDF parameters in the file make the open fail', async (t) => {
  const path = join(tempDir(t), 'device.json');
  await roundTrip(path, sampleState(), 'correct horse');
  const document = JSON.parse(readFileSync(path, 'utf8'));
  document.sealed.kdf.N = 2;
  writeFileSync(path, JSON.stringify(document));
  assert.match((await loadError(path, 'correct horse')).message, /wrong passphrase/);
});

test('corrupt files are reported as corrupt, not as crashes', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.json');
  await roundTrip(good, sampleState());
  const goodText = readFileSync(good, 'utf8');
  const cases: Record<string, string> = {
    truncated: goodText.slice(0, goodText.length / 2),
    empty: '',
    'not a store': '{"hello": 1}',
    'bad key': goodText.replace(/"identityPrivateKey": "[^"]+"/, '"identityPrivateKey": "AAAA"'),
    'bad username': goodText.replace('"username": "alice"', '"username": "a/b"'),
  };
  for (const [name, text] of Object.entries(cases)) {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, text);
    assert.match((await loadError(path)).message, /is corrupt/, name);
  }
  const sealed = join(dir, 'sealed.json');
  await roundTrip(sealed, sampleState(), 'pw');
  writeFileSync(sealed, readFileSync(sealed, 'utf8').replace(/"ciphertext": "(.)/, (_, c) => `"ciphertext": "${c === 'A' ? 'B' : 'A'}`));
  assert.match((await loadError(sealed, 'pw')).message, /wrong passphrase/);
});

test('a second process cannot open a store that is in use; a dead owner\'s lock is taken over', async (t) => {
  const path = join(tempDir(t), 'device.json');
  const store = await FileKeyStore.open(path);
  const other = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', `
    import { FileKeyStore } from '@x3dh-iot/device';
    try { await FileKeyStore.open(${JSON.stringify(path)}); console.log('opened'); }
    catch (error) { console.log(error.kind, error.message); }`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  other.stdout.on('data', (chunk) => (output += chunk));
  await new Promise((resolve) => other.on('exit', resolve));
  assert.match(output, new RegExp(`KEY_STORE key store is in use by process ${process.pid}`));
  await store.close();

  writeFileSync(`${path}.lock`, '999999999');
  const taken = await FileKeyStore.open(path);
  await taken.close();
});

test('saves leave no temporary files and abandoned ones are cleaned up on open', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'device.json');
  await roundTrip(path, sampleState());
  assert.deepEqual(readdirSync(dir).sort(), ['device.json']);
  writeFileSync(`${path}.0123456789ab.tmp`, '{"torn":');
  const store = await FileKeyStore.open(path);
  await store.close();
  assert.deepEqual(readdirSync(dir).sort(), ['device.json']);
});
