import { encodeBase64url, generateKeyPair, wireV2 } from '@x3dh-iot/protocol';
import type { DeviceCore } from './device_core.js';
import { forgetPreKeys } from './prekey_maintenance.js';
import { V2RequestError } from './v2_client.js';

/**
 * Replaces this device's identity key on the server (docs/protocol-v2.md section 6.2): the request
 * is signed by the old key and carries the new key's proof of possession. The new key is saved as
 * pending before the request, so a lost answer is retried with the same key; if the old key is
 * refused because the server already holds the new one, the pending key is adopted. The server
 * deletes the prekeys the old key signed, so this device deletes them too, and drops its sessions
 * (their associated data names the old key) and unsent messages. Returns the new public key; the
 * caller publishes new prekeys.
 */
export async function rotateIdentity(core: DeviceCore): Promise<Uint8Array> {
  const name = core.requireUsername();
  const old = core.requireIdentity();
  if (core.state.v2.pendingIdentity === null) await core.update((state) => { state.v2.pendingIdentity = generateKeyPair(); });
  const pending = core.state.v2.pendingIdentity!;
  try {
    await core.client().call(old, 'identity.rotate', {
      new_identity_key: encodeBase64url(pending.publicKey),
      proof: encodeBase64url(wireV2.signRotationProof(pending.privateKey, name, old.publicKey)),
    });
  } catch (error) {
    if (!(error instanceof V2RequestError && error.code === 'bad_signature')) throw error;
    await core.client().call(pending, 'prekeys.status', {}); // throws unless the server holds the pending key
  }
  await core.update((state) => {
    state.identity = pending;
    state.v2.pendingIdentity = null;
    forgetPreKeys(state);
    state.v2.sessions.clear();
    state.v2.outbox = [];
  });
  return pending.publicKey;
}
