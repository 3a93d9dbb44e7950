import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeBase64url, encodeBase64url as b64, generateKeyPair, wireV2 } from '@x3dh-iot/protocol';
import { preKeyBatch, type V2Response } from '@x3dh-iot/testkit';
import { uniqueName, v2Environments, type V2Environment } from './support/v2_environment.js';

/** Every v2 operation end to end, on PostgreSQL + Mosquitto (TLS 1.3, client certificates) and on the embedded defaults. */

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

function errorCode(response: V2Response): string {
  if (response.ok) assert.fail(`expected an error, got ${JSON.stringify(response.result)}`);
  return response.error.code;
}

const clientId = () => randomBytes(16).toString('base64url');

for (const { name, start } of v2Environments) {
  describe(`v2 operations on ${name}`, { timeout: 300_000 }, () => {
    let env: V2Environment;
    before(async () => { env = await start(); });
    after(async () => { await env?.close(); });

    test('enroll: the result names the device and its key; enrolling again with the same key succeeds', async () => {
      const name = uniqueName('alice');
      const device = await env.device(name);
      const token = await env.issueToken();
      const first = result(await device.enroll(token));
      assert.deepEqual(first, { device: name, identity_key: b64(device.identity.publicKey) });
      assert.deepEqual(result(await device.enroll()), first, 'no token needed for the same key');
      // Each response is wire-valid for a client.
      wireV2.results.enroll.parse(first);
    });

    test('prekeys.upload and prekeys.status: uploads add, ids and upload time are reported', async () => {
      const device = await env.enrolled(uniqueName('bob'), { oneTimePreKeys: 3 });
      const before = Date.now();
      const upload = result(await device.request('prekeys.upload', preKeyBatch(device, {
        signedPreKeyId: 2, firstOneTimePreKeyId: 4, count: 2,
      }).body));
      assert.deepEqual(upload, { one_time_prekeys: 5, signed_prekey_id: 2 });
      const status = result(await device.request('prekeys.status'));
      wireV2.results['prekeys.status'].parse(status);
      assert.equal(status.one_time_prekeys, 5);
      assert.equal(status.signed_prekey_id, 2);
      assert.equal(status.max_one_time_prekey_id, 5);
      assert.equal(status.max_signed_prekey_id, 2);
      assert.ok(Math.abs((status.signed_prekey_uploaded_at as number) - before) < 60_000);
      // Only one-time prekeys: the signed prekey stays.
      assert.deepEqual(result(await device.request('prekeys.upload', preKeyBatch(device, {
        firstOneTimePreKeyId: 6, count: 1,
      }).body)), { one_time_prekeys: 6, signed_prekey_id: 2 });
    });

    test('bundle.fetch: identity key, signed prekey with its id and the oldest one-time prekey, which is gone afterwards', async () => {
      const bob = await env.enrolled(uniqueName('bob'), { oneTimePreKeys: 2 });
      const alice = await env.enrolled(uniqueName('alice'));
      const first = result(await alice.request('bundle.fetch', { device: bob.name }));
      wireV2.results['bundle.fetch'].parse(first);
      assert.equal(first.device, bob.name);
      assert.equal(first.identity_key, b64(bob.identity.publicKey));
      assert.equal((first.signed_prekey as { id: number }).id, 1);
      assert.equal((first.one_time_prekey as { id: number }).id, 1);
      assert.equal((result(await alice.request('bundle.fetch', { device: bob.name })).one_time_prekey as { id: number }).id, 2);
      const third = result(await alice.request('bundle.fetch', { device: bob.name }));
      assert.equal(third.one_time_prekey, undefined, 'no one-time prekey left');
      assert.equal(result(await bob.request('prekeys.status')).one_time_prekeys, 0);
    });

    test('bundle.fetch of a device without a bundle is not_found; of an unknown device unknown_device', async () => {
      const carol = await env.device(uniqueName('carol'));
      result(await carol.enroll(await env.issueToken()));
      const alice = await env.enrolled(uniqueName('alice'));
      assert.equal(errorCode(await alice.request('bundle.fetch', { device: carol.name })), 'not_found');
      assert.equal(errorCode(await alice.request('bundle.fetch', { device: uniqueName('nobody') })), 'unknown_device');
    });

    test('directory.list and directory.lookup', async () => {
      const alice = await env.enrolled(uniqueName('alice'));
      const bob = await env.enrolled(uniqueName('bob'));
      const devices = result(await alice.request('directory.list')).devices as string[];
      assert.ok(devices.includes(alice.name) && devices.includes(bob.name));
      // A page at a time: the page after a name starts with the next name.
      const at = devices.indexOf(alice.name);
      assert.deepEqual(result(await alice.request('directory.list', { after: alice.name, limit: 1 })).devices, devices.slice(at + 1, at + 2));
      assert.equal(errorCode(await alice.request('directory.list', { limit: 1001 })), 'bad_request');
      const lookup = result(await alice.request('directory.lookup', { device: bob.name }));
      const certificate = lookup.certificate as { epoch: number; signature: string };
      assert.deepEqual(lookup, { device: bob.name, identity_key: b64(bob.identity.publicKey), certificate });
      assert.equal(certificate.epoch, 1);
      assert.ok(wireV2.verifyIdentityCertificate(env.server.operatorPublicKey,
        { device: bob.name, identityKey: bob.identity.publicKey, epoch: 1, deploymentId: env.server.deploymentId }, decodeBase64url(certificate.signature)));
      assert.equal(errorCode(await alice.request('directory.lookup', { device: uniqueName('nobody') })), 'unknown_device');
    });

    test('message.send, push, mailbox.fetch (oldest first, after, limit) and mailbox.ack', async () => {
      const alice = await env.enrolled(uniqueName('alice'));
      const bob = await env.enrolled(uniqueName('bob'));
      const ids: string[] = [];
      for (const n of [1, 2, 3]) {
        const sent = result(await alice.request('message.send', {
          to: bob.name, id: clientId(), type: n === 1 ? 'x3dh.initial' : 'session', envelope: b64(Buffer.from(`m${n}`)),
        }));
        wireV2.results['message.send'].parse(sent);
        ids.push(sent.message_id as string);
      }
      const push = await bob.waitForPush((p) => p.type === 'message' && (p.message as { id: string }).id === ids[2]);
      wireV2.pushSchema.parse(push);
      const all = result(await bob.request('mailbox.fetch', {})).messages as { id: string; from: string; envelope: string }[];
      assert.deepEqual(all.map((m) => m.id), ids);
      assert.deepEqual(all.map((m) => Buffer.from(m.envelope, 'base64url').toString()), ['m1', 'm2', 'm3']);
      assert.ok(all.every((m) => m.from === alice.name));
      assert.deepEqual((push as { message: unknown }).message, all[2], 'the push carries the stored message');
      assert.deepEqual((result(await bob.request('mailbox.fetch', { after: ids[0], limit: 1 })).messages as { id: string }[])
        .map((m) => m.id), [ids[1]]);
      assert.deepEqual(result(await bob.request('mailbox.ack', { ids: [ids[0], ids[1]] })), { acknowledged: 2 });
      assert.deepEqual((result(await bob.request('mailbox.fetch', {})).messages as { id: string }[]).map((m) => m.id), [ids[2]]);
      assert.equal(errorCode(await alice.request('message.send', {
        to: uniqueName('nobody'), id: clientId(), type: 'session', envelope: 'AAAA',
      })), 'unknown_device');
    });

    test('identity.rotate: the new key holds the name, prekeys are gone, the mailbox stays', async () => {
      const alice = await env.enrolled(uniqueName('alice'));
      const bob = await env.enrolled(uniqueName('bob'));
      result(await bob.request('message.send', { to: alice.name, id: clientId(), type: 'session', envelope: 'AAAA' }));
      const next = generateKeyPair();
      const proof = wireV2.signRotationProof(next.privateKey, alice.name, alice.identity.publicKey);
      assert.deepEqual(result(await alice.request('identity.rotate', { new_identity_key: b64(next.publicKey), proof: b64(proof) })),
        { device: alice.name, identity_key: b64(next.publicKey) });
      alice.identity = next;
      const status = result(await alice.request('prekeys.status'));
      assert.equal(status.one_time_prekeys, 0);
      assert.equal(status.signed_prekey_id, null);
      assert.deepEqual([status.max_signed_prekey_id, status.max_one_time_prekey_id], [1, 10], 'the highest ids stay after the keys are gone');
      assert.equal((result(await alice.request('mailbox.fetch', {})).messages as unknown[]).length, 1);
      assert.equal(result(await bob.request('directory.lookup', { device: alice.name })).identity_key, b64(next.publicKey));
      assert.equal(errorCode(await bob.request('bundle.fetch', { device: alice.name })), 'not_found');
      // What the status names is what the next upload must be above: 1 is refused, 2 is taken.
      const reused = await alice.request('prekeys.upload', preKeyBatch({ name: alice.name, identity: next }, { signedPreKeyId: 1 }).body);
      assert.equal(errorCode(reused), 'prekey_id_reused');
      assert.equal(result(await alice.request('prekeys.upload', preKeyBatch({ name: alice.name, identity: next }, { signedPreKeyId: 2 }).body)).signed_prekey_id, 2);
    });

    test('device.delete: gone from the directory, name kept for its key, enroll with the same key restores it', async () => {
      const alice = await env.enrolled(uniqueName('alice'));
      const bob = await env.enrolled(uniqueName('bob'));
      result(await bob.request('message.send', { to: alice.name, id: clientId(), type: 'session', envelope: 'AAAA' }));
      assert.deepEqual(result(await alice.request('device.delete')), { deleted: true });
      assert.ok(!(result(await bob.request('directory.list')).devices as string[]).includes(alice.name));
      assert.equal(errorCode(await bob.request('directory.lookup', { device: alice.name })), 'unknown_device');
      assert.equal(errorCode(await alice.request('prekeys.status')), 'unknown_device');
      const impostor = await env.device(alice.name);
      assert.equal(errorCode(await impostor.enroll(await env.issueToken())), 'name_taken');
      result(await alice.enroll());
      assert.ok((result(await bob.request('directory.list')).devices as string[]).includes(alice.name));
      const status = result(await alice.request('prekeys.status'));
      assert.equal(status.one_time_prekeys, 0, 'prekeys were deleted');
      assert.equal((result(await alice.request('mailbox.fetch', {})).messages as unknown[]).length, 0, 'mailbox was deleted');
    });

    test('metrics count v2 requests per operation and outcome', async () => {
      const alice = await env.enrolled(uniqueName('alice'));
      await alice.request('prekeys.status');
      await alice.request('directory.lookup', { device: uniqueName('nobody') });
      const metrics = await (await fetch(`http://127.0.0.1:${env.httpPort}/metrics`)).text();
      assert.match(metrics, /x3dh_requests_total\{operation="prekeys.status",outcome="ok"\} [1-9]/);
      assert.match(metrics, /x3dh_requests_total\{operation="directory.lookup",outcome="refused"\} [1-9]/);
    });
  });
}
