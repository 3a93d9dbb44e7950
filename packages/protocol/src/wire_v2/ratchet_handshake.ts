import { ratchetDecrypt, ratchetEncrypt, type RatchetDecryptOptions } from '../ratchet/ratchet_cipher.js';
import { startInitiatorRatchet, startResponderRatchet, type RatchetSession } from '../ratchet/ratchet_session.js';
import { keyPairFromPrivateKey, type KeyPair } from '../x25519.js';
import { type ResponderKeys, x3dhInitiate, x3dhRespond } from '../x3dh.js';
import { initialAssociatedData, X3DH_V2_INFO } from './envelopes.js';
import { signedPreKeySignatureInput, type V2PreKeyBundle } from './signed_prekey_signature.js';
import type { RatchetInitialEnvelope } from './ratchet_envelopes.js';

/**
 * Initiator: X3DH against the bundle (aborts on a bad signed-prekey signature or an all-zero DH
 * output), the ratchet started on SK with the signed prekey as the first DHr, and the first
 * plaintext sealed as ratchet message 0 with AD_first. Store the returned session before the
 * envelope leaves; SK itself is not returned (nothing should keep it).
 */
export function sealRatchetInitialEnvelope(
  identity: KeyPair,
  bundle: V2PreKeyBundle,
  plaintext: Uint8Array,
  options: { ephemeral?: KeyPair | undefined; ratchetKeyPair?: KeyPair | undefined } = {},
): { session: RatchetSession; envelope: RatchetInitialEnvelope } {
  const x3dh = x3dhInitiate(identity, bundle, {
    info: X3DH_V2_INFO, ephemeral: options.ephemeral,
    signedPreKeyMessage: signedPreKeySignatureInput(bundle.device, bundle.signedPreKeyId, bundle.signedPreKey),
  });
  const firstMessageAd = initialAssociatedData(
    identity.publicKey, bundle.identityKey, bundle.signedPreKeyId, x3dh.oneTimePreKeyId, x3dh.ephemeralPublicKey,
  );
  const started = startInitiatorRatchet({
    sharedKey: x3dh.sharedKey,
    initiatorIdentityKey: identity.publicKey,
    responderIdentityKey: bundle.identityKey,
    responderSignedPreKey: bundle.signedPreKey,
    ratchetKeyPair: options.ratchetKeyPair,
  });
  x3dh.sharedKey.fill(0);
  const { session, message } = ratchetEncrypt(started, plaintext, { firstMessageAd });
  return {
    session,
    envelope: {
      identityKey: identity.publicKey,
      ephemeralKey: x3dh.ephemeralPublicKey,
      signedPreKeyId: bundle.signedPreKeyId,
      oneTimePreKeyId: x3dh.oneTimePreKeyId,
      message,
    },
  };
}

/**
 * Responder (X3DH section 3.4): X3DH from its prekeys, AD_first built here from its own identity
 * key and the envelope (never taken from the sender), the ratchet started with the signed prekey
 * pair as DHs, then the first message decrypted as a ratchet message. Throws (a RatchetError with
 * the refusal code, or the X3DH error) and creates no session when anything fails; the caller
 * keeps its prekeys until this returns, and stores the session and deletes the one-time prekey
 * in one write before handing on the plaintext.
 */
export function openRatchetInitialEnvelope(
  keys: ResponderKeys,
  envelope: RatchetInitialEnvelope,
  options: Pick<RatchetDecryptOptions, 'generateKeyPair'> = {},
): { session: RatchetSession; plaintext: Uint8Array } {
  const x3dh = x3dhRespond(keys, envelope.identityKey, envelope.ephemeralKey, { info: X3DH_V2_INFO });
  const firstMessageAd = initialAssociatedData(
    envelope.identityKey, keys.identity.publicKey, envelope.signedPreKeyId, envelope.oneTimePreKeyId, envelope.ephemeralKey,
  );
  const started = startResponderRatchet({
    sharedKey: x3dh.sharedKey,
    initiatorIdentityKey: envelope.identityKey,
    responderIdentityKey: keys.identity.publicKey,
    signedPreKeyPair: keyPairFromPrivateKey(keys.signedPreKey),
  });
  return ratchetDecrypt(started, envelope.message, { ...options, firstMessageAd });
}
