import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeBase64url, encodeBase64url as b64, generateKeyPair, wireV2 } from '@x3dh-iot/protocol';
import { TEST_DEPLOYMENT_ID, writeTestOperator, type V2Response, type V2TestDevice } from '@x3dh-iot/testkit';
import { loadOperatorIdentity } from '../src/v2/operator_key_file.js';
import { admin } from './support/admin_cli.js';
import { startV2Postgres, uniqueName, type V2Environment } from './support/v2_environment.js';

/**
 * Identity certificates and the deployment id (docs/protocol-v2.md section 6.11) against PostgreSQL
 * and Mosquitto (TLS 1.3, client certificates): the certificates a server issues verify under its
 * operator key, and a server refuses requests signed for another deployment.
 */

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

/** The certificate of an answer, checked under the server's operator key for `device`; returns its epoch. */
function certifiedEpoch(env: V2Environment, answer: Record<string, unknown>, device: string, deploymentId = TEST_DEPLOYMENT_ID): number {
  const certificate = answer.certificate as { epoch: number; signature: string } | undefined;
  assert.ok(certificate, `the answer carries a certificate: ${JSON.stringify(answer)}`);
  const identity = { device, identityKey: decodeBase64url(answer.identity_key as string), epoch: certificate.epoch, deploymentId };
  assert.equal(wireV2.verifyIdentityCertificate(env.server.operatorPublicKey, identity, decodeBase64url(certificate.signature)), true,
    `certificate of ${device} at epoch ${certificate.epoch} verifies under the operator key`);
  return certificate.epoch;
}

describe('identity certificates on PostgreSQL', { timeout: 180_000 }, () => {
  let env: V2Environment;
  before(async () => { env = await startV2Postgres(); });
  after(async () => { await env?.close(); });

  test('issued at enrolment, carried by bundle.fetch and directory.lookup, a new epoch at every identity change', async () => {
    const alice = await env.enrolled(uniqueName('alice'));
    const bob = await env.enrolled(uniqueName('bob'));
    assert.deepEqual(env.server.deploymentId, TEST_DEPLOYMENT_ID);

    const lookup = result(await bob.request('directory.lookup', { device: alice.name }));
    assert.equal(lookup.identity_key, b64(alice.identity.publicKey));
    assert.equal(certifiedEpoch(env, lookup, alice.name), 1);
    assert.equal(certifiedEpoch(env, result(await bob.request('bundle.fetch', { device: alice.name })), alice.name), 1);
    // Stored at enrolment, in the enrolment's transaction.
    const [stored] = await env.query<{ identity_certificate: Uint8Array | null; identity_epoch: string }>(
      'SELECT identity_certificate, identity_epoch::text AS identity_epoch FROM users WHERE username = $1', [bob.name]);
    assert.ok(stored?.identity_certificate, 'the certificate is stored when the device enrols');

    // The device's own rotation: epoch 2, the certificate of the new key only.
    const old = alice.identity;
    const next = generateKeyPair();
    result(await alice.request('identity.rotate', {
      new_identity_key: b64(next.publicKey), proof: b64(wireV2.signRotationProof(next.privateKey, alice.name, old.publicKey)),
    }));
    alice.identity = next;
    const rotated = result(await bob.request('directory.lookup', { device: alice.name }));
    assert.equal(rotated.identity_key, b64(next.publicKey));
    assert.equal(certifiedEpoch(env, rotated, alice.name), 2);
    const signature = decodeBase64url((rotated.certificate as { signature: string }).signature);
    assert.equal(wireV2.verifyIdentityCertificate(env.server.operatorPublicKey,
      { device: alice.name, identityKey: old.publicKey, epoch: 2, deploymentId: TEST_DEPLOYMENT_ID }, signature), false);
    const [afterRotation] = await env.query<{ identity_certificate: Uint8Array | null }>(
      'SELECT identity_certificate FROM users WHERE username = $1', [alice.name]);
    assert.deepEqual(new Uint8Array(afterRotation!.identity_certificate!), signature, 'issued and stored by the rotation');

    // The operator's set-identity: epoch 3, certified when next handed out.
    const operatorKey = generateKeyPair();
    await admin([], 'device', 'set-identity', ...env.store, alice.name, '--', b64(operatorKey.publicKey));
    const set = result(await bob.request('directory.lookup', { device: alice.name }));
    assert.equal(set.identity_key, b64(operatorKey.publicKey));
    assert.equal(certifiedEpoch(env, set, alice.name), 3);
  });

  test('an enrolment with the same key again keeps the epoch', async () => {
    const carol = await env.enrolled(uniqueName('carol'));
    const dave = await env.enrolled(uniqueName('dave'));
    result(await carol.enroll());
    assert.equal(certifiedEpoch(env, result(await dave.request('directory.lookup', { device: carol.name })), carol.name), 1);
  });
});

describe('deployment id on PostgreSQL', { timeout: 180_000 }, () => {
  const DEPLOYMENT_B = 'deployment-b';
  let dir: string;
  let env: V2Environment;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-deployment-b-'));
    env = await startV2Postgres(writeTestOperator(dir, DEPLOYMENT_B).serverArgs);
  });
  after(async () => {
    await env?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('attack: a request signed for deployment A is refused by a server of deployment B', async () => {
    assert.equal(env.server.deploymentId, DEPLOYMENT_B);
    const device: V2TestDevice = await env.device(uniqueName('mallory'));
    const token = await env.issueToken();
    // Signed for TEST_DEPLOYMENT_ID (deployment A), the device's provisioning.
    const refused = await device.enroll(token);
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error.code, 'wrong_deployment');
    assert.match(!refused.ok ? refused.error.message : '', /deployment x3dh-test.*serves deployment-b/);
    // Signed for A but naming B: the signature does not verify.
    const relabelled = await device.enroll(token, { deploymentText: DEPLOYMENT_B });
    assert.equal(!relabelled.ok && relabelled.error.code, 'bad_signature');
    const missing = await device.enroll(token, { deploymentText: null });
    assert.equal(!missing.ok && missing.error.code, 'bad_request');
    // The token was not used by any of them: signed for B, the enrolment succeeds.
    result(await device.enroll(token, { deploymentId: DEPLOYMENT_B }));
  });
});

describe('operator key of the embedded defaults', () => {
  test('made in the data directory on first start (owner-only), the same at every later start', () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-operator-')), 'data');
    try {
      const first = loadOperatorIdentity({ keyFile: undefined, deploymentId: undefined, dataDir });
      assert.equal(first.created, true);
      assert.equal(fs.statSync(path.join(dataDir, 'operator.key')).mode & 0o777, 0o600);
      assert.match(first.operator.deploymentId, /^[0-9a-f]{16}$/);
      const again = loadOperatorIdentity({ keyFile: undefined, deploymentId: undefined, dataDir });
      assert.equal(again.created, false);
      assert.deepEqual(again.operator.publicKey, first.operator.publicKey);
      assert.equal(again.operator.deploymentId, first.operator.deploymentId);
      // A configured deployment id wins over the kept one; the key stays.
      assert.equal(loadOperatorIdentity({ keyFile: undefined, deploymentId: 'plant-9', dataDir }).operator.deploymentId, 'plant-9');

      assert.throws(() => loadOperatorIdentity({ keyFile: path.join(dataDir, 'operator.key'), deploymentId: undefined, dataDir }),
        /--operator-key needs --deployment-id/);
      assert.throws(() => loadOperatorIdentity({ keyFile: undefined, deploymentId: 'not valid', dataDir }), /deployment id/);
      fs.chmodSync(path.join(dataDir, 'operator.key'), 0o640);
      assert.throws(() => loadOperatorIdentity({ keyFile: path.join(dataDir, 'operator.key'), deploymentId: 'd', dataDir }), /can be read by others/);
      fs.writeFileSync(path.join(dataDir, 'short.key'), 'AAAA\n', { mode: 0o600 });
      assert.throws(() => loadOperatorIdentity({ keyFile: path.join(dataDir, 'short.key'), deploymentId: 'd', dataDir }), /32-byte X25519 private key/);
    } finally {
      fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });
});
