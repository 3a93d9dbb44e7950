import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbedded, startMosquittoAndPostgres, type RunningKeyServer } from './support/key_server.js';
import { runCliJson } from './support/run_cli.js';
import { tempDir } from './support/temp_dir.js';

/**
 * Two devices as separate CLI processes with separate key stores, through a real key server:
 * register, publish, users, init, inbox, and chat in both directions.
 */
async function twoDeviceConversation(server: RunningKeyServer, dir: string): Promise<void> {
  const alice = (args: string[], code = 0) => runCliJson(args, { ...server.deviceEnv, X3DH_STORE: join(dir, 'alice.json') }, code);
  const bob = (args: string[], code = 0) => runCliJson(args, { ...server.deviceEnv, X3DH_STORE: join(dir, 'bob.json') }, code);

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

  const refused = await alice(['init', 'nobody', 'x'], 4);
  assert.deepEqual(refused.error, { kind: 'SERVER_REFUSED', message: 'server refused the bundle: Bundle not found' });
  assert.equal(((await alice(['send', 'carol', 'x'], 3)).error as { kind: string }).kind, 'NOT_READY');
}

describe('two CLI devices through the key server on Mosquitto (TLS 1.3) and PostgreSQL', () => {
  let server: RunningKeyServer;
  before(async () => { server = await startMosquittoAndPostgres(); });
  after(() => server?.stop());
  test('register, publish, users, init, inbox and chat both ways', (t) => twoDeviceConversation(server, tempDir(t)));
});

describe('two CLI devices through the key server on its embedded defaults (embedded broker, PGlite)', () => {
  let server: RunningKeyServer;
  before(async () => { server = await startEmbedded(); });
  after(() => server?.stop());
  test('register, publish, users, init, inbox and chat both ways', (t) => twoDeviceConversation(server, tempDir(t)));
});
