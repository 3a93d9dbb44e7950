import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '@x3dh-iot/protocol';
import { identityKey, type IdentityKey, ratchetKey, type RatchetKey, sharedKey, type SharedKey, signedPreKeyPublic, type SignedPreKeyPublic } from '../src/index.js';
import { sharedKeySession } from '../src/v2/session_record.js';

// Checked by the type checker (npx tsc): each line marked below must fail to compile.
function typeChecks(ik: IdentityKey, spk: SignedPreKeyPublic, rk: RatchetKey, sk: SharedKey, raw: Uint8Array): void {
  sharedKeySession(sk, ik, 'initiator', new Date());
  // @ts-expect-error swapped: an identity key where the shared key goes, and back
  sharedKeySession(ik, sk, 'initiator', new Date());
  // @ts-expect-error a bare Uint8Array is not a key of any kind until it is checked
  sharedKeySession(raw, ik, 'initiator', new Date());
  // @ts-expect-error a signed prekey is not an identity key
  const notIdentity: IdentityKey = spk;
  // @ts-expect-error a ratchet key is not a shared key
  const notShared: SharedKey = rk;
  const stillBytes: Uint8Array = ik;
  void [notIdentity, notShared, stillBytes];
}
void typeChecks;

test('key types: bytes become a typed key only with the right length', () => {
  const bytes = generateKeyPair().publicKey;
  for (const make of [identityKey, signedPreKeyPublic, ratchetKey, sharedKey]) {
    assert.equal(make(bytes), bytes, 'no copy: the type is only a label');
    assert.throws(() => make(bytes.subarray(1)), /must be 32 bytes, got 31/);
  }
});
