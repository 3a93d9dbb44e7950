import { encodeBase64url, keyPairFromPrivateKey, wireV1 } from '@x3dh-iot/protocol';
import { z } from 'zod';
import type { DeviceState } from './device_state.js';

const { keySchema: key, signatureSchema: signature } = wireV1;
const id = z.number().int().min(0).max(0x7fffffff);
const date = z.iso.datetime().transform((text) => new Date(text));

/**
 * The JSON form of a device's state. Only private keys are written: public keys are derived on
 * load, so a file can never hold a public key that does not match its private key.
 */
const stateSchema = z.object({
  username: wireV1.usernameSchema.nullable(),
  identityPrivateKey: key.nullable(),
  signedPreKeys: z.array(z.object({ id, privateKey: key, signature, createdAt: date })),
  oneTimePreKeys: z.array(z.object({ id, privateKey: key })),
  nextSignedPreKeyId: id,
  nextOneTimePreKeyId: id,
  sessions: z.array(z.object({
    peer: wireV1.usernameSchema,
    sharedKey: key,
    peerIdentityKey: key,
    role: z.enum(['initiator', 'responder']),
    establishedAt: date,
  })),
});

export type StateJson = z.input<typeof stateSchema>;

export function stateToJson(state: DeviceState): StateJson {
  const b64 = encodeBase64url;
  return {
    username: state.username,
    identityPrivateKey: state.identity ? b64(state.identity.privateKey) : null,
    signedPreKeys: state.signedPreKeys.map((spk) => ({
      id: spk.id, privateKey: b64(spk.keyPair.privateKey), signature: b64(spk.signature), createdAt: spk.createdAt.toISOString(),
    })),
    oneTimePreKeys: [...state.oneTimePreKeys].map(([opkId, pair]) => ({ id: opkId, privateKey: b64(pair.privateKey) })),
    nextSignedPreKeyId: state.nextSignedPreKeyId,
    nextOneTimePreKeyId: state.nextOneTimePreKeyId,
    sessions: [...state.sessions.values()].map((s) => ({
      peer: s.peer, sharedKey: b64(s.sharedKey), peerIdentityKey: b64(s.peerIdentityKey), role: s.role,
      establishedAt: s.establishedAt.toISOString(),
    })),
  };
}

/** Throws an Error naming the first bad field; the caller turns it into a key-store error. */
export function stateFromJson(json: unknown): DeviceState {
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${issue.path.join('.') || 'state'}: ${issue.message}`);
  }
  const s = parsed.data;
  return {
    username: s.username,
    identity: s.identityPrivateKey ? keyPairFromPrivateKey(s.identityPrivateKey) : null,
    signedPreKeys: s.signedPreKeys.map((spk) => ({
      id: spk.id, keyPair: keyPairFromPrivateKey(spk.privateKey), signature: spk.signature, createdAt: spk.createdAt,
    })),
    oneTimePreKeys: new Map(s.oneTimePreKeys.map((opk) => [opk.id, keyPairFromPrivateKey(opk.privateKey)])),
    nextSignedPreKeyId: s.nextSignedPreKeyId,
    nextOneTimePreKeyId: s.nextOneTimePreKeyId,
    sessions: new Map(s.sessions.map((session) => [session.peer, session])),
  };
}
