import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { generateKeyPair, InvalidMessageError, wireV2, xeddsaSign } from '../src/index.js';

/** The test vector of docs/protocol-v2.md section 6.11, read from the document itself so both stay one. */
function documentedVector(): Record<string, string> {
  const doc = readFileSync(new URL('../../../docs/protocol-v2.md', import.meta.url), 'utf8');
  const block = /Test vector \(checked by `packages\/protocol\/test\/identity_certificate\.test\.ts`[\s\S]*?```\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'the identity certificate test vector is in docs/protocol-v2.md');
  return Object.fromEntries(block[1]!.trim().split('\n').map((line) => line.split(/\s+/) as [string, string]));
}

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

describe('identity certificates', () => {
  test('the documented vector: signed string and signature', () => {
    const v = documentedVector();
    const identity = { device: v.device!, identityKey: hex(v.identity_key!), epoch: Number(v.epoch), deploymentId: v.deployment_id! };
    assert.equal(Buffer.from(wireV2.identityCertificateInput(identity)).toString('hex'), v.signed_string);
    assert.equal(Buffer.from(xeddsaSign(hex(v.operator_private_key!), wireV2.identityCertificateInput(identity), hex(v.Z!))).toString('hex'), v.signature);
    assert.equal(wireV2.verifyIdentityCertificate(hex(v.operator_public_key!), identity, hex(v.signature!)), true);
  });

  test('a certificate verifies only for its device, key, epoch, deployment and operator key', () => {
    const operator = generateKeyPair();
    const identity = { device: 'alice', identityKey: generateKeyPair().publicKey, epoch: 2, deploymentId: 'plant-1' };
    const signature = wireV2.signIdentityCertificate(operator.privateKey, identity);
    assert.equal(wireV2.verifyIdentityCertificate(operator.publicKey, identity, signature), true);
    for (const variant of [
      { ...identity, device: 'alicf' }, { ...identity, identityKey: generateKeyPair().publicKey }, { ...identity, epoch: 3 },
      { ...identity, deploymentId: 'plant-2' },
    ]) assert.equal(wireV2.verifyIdentityCertificate(operator.publicKey, variant, signature), false);
    assert.equal(wireV2.verifyIdentityCertificate(generateKeyPair().publicKey, identity, signature), false);
  });

  test('length prefixes keep device and deployment apart', () => {
    const key = new Uint8Array(32).fill(9);
    const a = wireV2.identityCertificateInput({ device: 'ab', identityKey: key, epoch: 1, deploymentId: 'c' });
    const b = wireV2.identityCertificateInput({ device: 'a', identityKey: key, epoch: 1, deploymentId: 'bc' });
    assert.notEqual(Buffer.from(a).toString('hex'), Buffer.from(b).toString('hex'));
  });

  test('bad fields are refused with typed errors', () => {
    const ok = { device: 'alice', identityKey: new Uint8Array(32), epoch: 1, deploymentId: 'd' };
    assert.throws(() => wireV2.identityCertificateInput({ ...ok, device: 'a/b' }), InvalidMessageError);
    assert.throws(() => wireV2.identityCertificateInput({ ...ok, deploymentId: '' }), InvalidMessageError);
    assert.throws(() => wireV2.identityCertificateInput({ ...ok, epoch: 0 }), InvalidMessageError);
  });
});
