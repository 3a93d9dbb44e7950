import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { encodeBase64url as b64, generateKeyPair, wireV1, wireV2 } from '@x3dh-iot/protocol';
import { closeV1Device, connectV1Device, entryScript, requestJson, type V2Response } from '@x3dh-iot/testkit';
import type { MqttRequester } from '@x3dh-iot/transport';
import { runOnStore, type StoreOptions } from '../src/admin/admin_store.js';
import type { OperatorInput, OperatorOperation } from '../src/admin/operator_operations.js';
import { enrolmentTokenDigest, newEnrolmentToken } from '../src/domain/enrolment_token.js';
import { admin, runAdmin } from './support/admin_cli.js';
import { chatMessage, initialMessage, key, registerBundle, registerIdentity } from './support/v1_fixtures.js';
import { startV2Embedded, startV2Postgres, uniqueName, type V2Environment } from './support/v2_environment.js';

/**
 * The operator's `x3dh-server device disable|enable|delete`: a disabled or deleted device is
 * refused everything, over v2 and v1, nothing of it is handed out or listed, and its identity key
 * (possibly stolen) cannot undo the operator's step; only an enrolment with a new token can. The
 * operations run as the operator's commands run them: on PostgreSQL while the server serves, and
 * through the running server's operator socket on the embedded store (some through the CLI itself).
 */

const OPS_MAIN = fileURLToPath(new URL('../../ops/src/cli/main.ts', import.meta.url));
const SERVER_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** Runs `x3dh-ops <args>` as an operator would, with the key server's store in its environment; its stdout. */
async function runOps(store: StoreOptions, args: readonly string[]): Promise<string> {
  const script = await entryScript(OPS_MAIN);
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('X3DH_'))),
    ...(store.databaseUrl !== undefined ? { X3DH_DATABASE_URL: store.databaseUrl } : { X3DH_DATA_DIR: store.dataDir }),
  };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, ...args], { timeout: 120_000, env }, (error, stdout, stderr) => {
      if (error) reject(new Error(`x3dh-ops ${args.join(' ')}: ${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The operator command's store options for a test environment's store flags. */
function storeOptions(store: readonly string[]): StoreOptions {
  const value = (flag: string) => (store.includes(flag) ? store[store.indexOf(flag) + 1] : undefined);
  return { databaseUrl: value('--database-url'), dataDir: value('--data-dir') ?? '' };
}

// v1 devices have no client certificate: the PostgreSQL variant's Mosquitto lets them in with TLS only.
const environments = [
  { name: 'postgresql + mosquitto (TLS 1.3)', start: () => startV2Postgres(['--enable-v1'], { clientCertificates: false }) },
  { name: 'embedded postgresql + embedded broker', start: () => startV2Embedded(['--enable-v1']) },
];

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

function code(response: V2Response): string {
  if (response.ok) assert.fail(`expected an error, got ${JSON.stringify(response.result)}`);
  return response.error.code;
}

const clientId = () => randomBytes(16).toString('base64url');

for (const { name, start } of environments) {
  describe(`operator device disable, enable and delete on ${name}`, { timeout: 300_000 }, () => {
    let env: V2Environment;
    let v1: MqttRequester;
    before(async () => {
      env = await start();
      v1 = await connectV1Device(env.brokerUrl, { ca: env.ca });
    });
    after(async () => {
      if (v1) await closeV1Device(v1);
      await env?.close();
    });
    const operator = <O extends OperatorOperation>(operation: O, input: OperatorInput<O>) => runOnStore(storeOptions(env.store), operation, input);
    const newToken = async (device: string) => {
      const token = newEnrolmentToken();
      await operator('token.issue', { digest: enrolmentTokenDigest(token).toString('base64url'), device, note: null, expiresInSeconds: null });
      return token;
    };

    test('attack: a disabled device is refused everything, also under its remembered key; its bundle is not handed out, it is not listed', async () => {
      const victim = await env.enrolled(uniqueName('victim'), { oneTimePreKeys: 3 });
      const peer = await env.enrolled(uniqueName('peer'));
      // The server remembers the victim's key from a frequent request before the disable.
      result(await victim.request('mailbox.fetch', {}));
      result(await peer.request('message.send', { to: victim.name, id: clientId(), type: 'session', envelope: 'AAAA' }));

      assert.match(await admin(env.store, 'device', 'disable', victim.name), /disabled \(was active, now disabled\)/);

      // Whoever holds the victim's key (the thief) gets nothing done.
      const next = generateKeyPair();
      const proof = b64(wireV2.signRotationProof(next.privateKey, victim.name, victim.identity.publicKey));
      const attempts: [string, unknown][] = [
        ['mailbox.fetch', {}], ['mailbox.ack', { ids: ['1'] }], ['bundle.fetch', { device: peer.name }],
        ['message.send', { to: peer.name, id: clientId(), type: 'session', envelope: 'AAAA' }], ['prekeys.status', {}],
        ['identity.rotate', { new_identity_key: b64(next.publicKey), proof }], ['directory.list', {}], ['device.delete', {}],
        ['enroll', { identity_key: b64(victim.identity.publicKey) }],
      ];
      for (const [operation, body] of attempts) assert.equal(code(await victim.request(operation, body)), 'device_disabled', operation);

      // Nothing of it goes out to others, over v2 or v1.
      assert.equal(code(await peer.request('bundle.fetch', { device: victim.name })), 'unknown_device');
      assert.equal(code(await peer.request('directory.lookup', { device: victim.name })), 'unknown_device');
      assert.ok(!(result(await peer.request('directory.list')).devices as string[]).includes(victim.name));
      assert.equal(code(await peer.request('message.send', { to: victim.name, id: clientId(), type: 'session', envelope: 'AAAA' })),
        'unknown_device');
      assert.deepEqual(await requestJson(v1, wireV1.bundleTopic(victim.name)), { error: 'Bundle not found' });
      assert.ok(!((await requestJson(v1, wireV1.V1_TOPICS.users)) as { users: string[] }).users.includes(victim.name));
      assert.equal((await operator('device.list', {})).find((d) => d.device === victim.name)?.state, 'disabled');

      // Enabled again, it has its keys and its mailbox.
      assert.deepEqual(await operator('device.enable', { device: victim.name }), { device: victim.name, state: 'active', was: 'disabled' });
      assert.equal(result(await victim.request('prekeys.status')).one_time_prekeys, 3);
      assert.equal((result(await victim.request('mailbox.fetch', {})).messages as unknown[]).length, 1);
      assert.equal((result(await peer.request('bundle.fetch', { device: victim.name })).one_time_prekey as { id: number }).id, 1);
    });

    test('attack: a stolen identity key cannot restore a device the operator deleted; a new token re-enrols it under a new key', async () => {
      const victim = await env.enrolled(uniqueName('victim'), { oneTimePreKeys: 3 });
      const peer = await env.enrolled(uniqueName('peer'));
      result(await peer.request('message.send', { to: victim.name, id: clientId(), type: 'session', envelope: 'AAAA' }));

      assert.deepEqual(await operator('device.delete', { device: victim.name }),
        { device: victim.name, state: 'operator-deleted', was: 'active' });
      // The key alone restores nothing: not as a device's own deletion would be undone, nor by a rotation.
      assert.equal(code(await victim.enroll()), 'device_disabled');
      assert.equal(code(await victim.request('prekeys.status')), 'device_disabled');
      assert.equal(code(await peer.request('bundle.fetch', { device: victim.name })), 'unknown_device');
      // Nor can the operator simply enable it: its data is gone.
      const enable = await runAdmin(env.store, 'device', 'enable', victim.name);
      assert.equal(enable.code, 1);
      assert.match(enable.stderr, /new enrolment token/);

      // The owner comes back with a new key and a new token; the old key signs nothing any more.
      const owner = await env.device(victim.name, { identity: generateKeyPair() });
      result(await owner.enroll(await newToken(victim.name)));
      assert.equal(code(await victim.request('prekeys.status')), 'bad_signature');
      const status = result(await owner.request('prekeys.status'));
      assert.equal(status.one_time_prekeys, 0, 'its prekeys were deleted');
      assert.equal(status.signed_prekey_id, null);
      assert.deepEqual(result(await owner.request('mailbox.fetch', {})).messages, [], 'its mailbox was deleted');
      assert.equal(result(await peer.request('directory.lookup', { device: victim.name })).identity_key, b64(owner.identity.publicKey));
    });

    test('attack: a disabled device cannot re-enrol with its key under open enrolment or a used token, only with a new token', async () => {
      const victim = await env.enrolled(uniqueName('victim'));
      await operator('device.disable', { device: victim.name });
      const token = await newToken(victim.name);
      const thief = await env.device(victim.name, { identity: generateKeyPair() });
      assert.equal(code(await thief.enroll()), 'device_disabled');
      result(await victim.enroll(token));
      // Re-enrolled with its (same) key: it works again; the token is used up.
      result(await victim.request('prekeys.status'));
      assert.equal(code(await thief.enroll(token)), 'name_taken');
    });

    test('attack: after the operator revokes a device in one step (x3dh-ops pki revoke), its stolen key gets nothing and its keys are not handed out', async () => {
      const victim = await env.enrolled(uniqueName('victim'), { oneTimePreKeys: 2 });
      const peer = await env.enrolled(uniqueName('peer'));
      result(await victim.request('mailbox.fetch', {}));
      const pki = await mkdtemp(join(tmpdir(), 'x3dh-revoke-'));
      try {
        const ops = (...args: string[]) => runOps(storeOptions(env.store), [...args, '-d', pki]);
        await ops('pki', 'init');
        await ops('pki', 'device', victim.name);
        const keyServer = `${process.execPath} ${await entryScript(SERVER_MAIN)}`;
        assert.match(await ops('pki', 'revoke', victim.name, '--key-server-command', keyServer),
          new RegExp(`${victim.name} disabled \\(was active, now disabled\\)[\\s\\S]*revoked ${victim.name}`));
      } finally {
        await rm(pki, { recursive: true, force: true });
      }
      assert.equal(code(await victim.request('mailbox.fetch', {})), 'device_disabled');
      assert.equal(code(await victim.enroll()), 'device_disabled');
      assert.equal(code(await peer.request('bundle.fetch', { device: victim.name })), 'unknown_device');
    });

    test('attack: v1 requests for a disabled device are refused: no bundle upload, no bundle, no messages in or out', async () => {
      const oldName = uniqueName('v1dev');
      const oldKey = key();
      assert.deepEqual(await requestJson(v1, wireV1.V1_TOPICS.registerIdentity, registerIdentity(oldName, oldKey)), { status: 'created', username: oldName });
      assert.deepEqual(await requestJson(v1, wireV1.V1_TOPICS.registerBundle, registerBundle(oldName, [1, 2])), { status: 'bundle created' });
      assert.deepEqual(await requestJson(v1, wireV1.V1_TOPICS.initialMessage, initialMessage(oldName, 'someone')), { status: 'delivered' });

      await operator('device.disable', { device: oldName });
      assert.deepEqual(await requestJson(v1, wireV1.bundleTopic(oldName)), { error: 'Bundle not found' });
      assert.deepEqual(await requestJson(v1, wireV1.V1_TOPICS.registerBundle, registerBundle(oldName, [3])), { error: 'User not found' });
      assert.deepEqual(await requestJson(v1, wireV1.inboxTopic(oldName)), { error: 'Empty inbox', code: 404 });
      assert.deepEqual(await requestJson(v1, wireV1.V1_TOPICS.initialMessage, initialMessage(oldName, 'someone')), { error: 'User not found' });
      assert.deepEqual(await requestJson(v1, wireV1.V1_TOPICS.chatSend, chatMessage('someone', oldName, 'hi')), { error: 'User not found' });
      // Its name is not given back to its key (v1 registers the key under another name).
      const again = await requestJson(v1, wireV1.V1_TOPICS.registerIdentity, registerIdentity(oldName, oldKey)) as { username: string };
      assert.notEqual(again.username, oldName);

      await operator('device.enable', { device: oldName });
      assert.equal(((await requestJson(v1, wireV1.bundleTopic(oldName))) as { opk_id: number }).opk_id, 1);
    });
  });
}
