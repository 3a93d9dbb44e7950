import { decodeBase64url, type KeyPair, utf8, wireV2 } from '@x3dh-iot/protocol';
import type { FakeV2Server } from './fake_v2_server.js';

/**
 * An `x3dh.initial` of the form before the Double Ratchet (the first text sealed under the X3DH key,
 * with a nonce) from `identity` to `to`, taking a one-time prekey from the fake server's stock: what
 * a peer running the earlier version sends, or an attacker holding `identity`.
 */
export function legacyInitial(server: FakeV2Server, to: string, identity: KeyPair, text: string): { envelope: Uint8Array; sharedKey: Uint8Array } {
  const target = server.devices.get(to)!;
  const opk = target.oneTimePreKeys.shift();
  const spk = target.signedPreKey!;
  const sealed = wireV2.sealInitialEnvelope(identity, {
    device: to, identityKey: target.identityKey, signedPreKey: decodeBase64url(spk.key), signedPreKeySignature: decodeBase64url(spk.signature),
    signedPreKeyId: spk.id, oneTimePreKey: opk && { id: opk.id, publicKey: decodeBase64url(opk.key) },
  }, utf8.encode(text));
  return { envelope: wireV2.encodeInitialEnvelope(sealed.envelope), sharedKey: sealed.sharedKey };
}

/** Puts a message into `to`'s mailbox as the server would queue it, under a new mailbox id. */
export function insert(server: FakeV2Server, to: string, from: string, type: wireV2.MessageType, envelope: Uint8Array): wireV2.MailboxMessage {
  return server.replay(to, { id: '1', from, type, envelope, client_id: new Uint8Array(16), queued_at: Date.now() });
}
