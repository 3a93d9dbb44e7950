import { decodeBase64url, decodeRatchetSession, encodeBase64url, keyPairFromPrivateKey, wireV1, wireV2 } from '@x3dh-iot/protocol';
import { z } from 'zod';
import type { DeviceState } from './device_state.js';
import { identityKey, sharedKey } from './v2/keys.js';
import { ARCHIVED_SESSIONS_KEPT } from './v2/session_record.js';
import { emptyV2State, type PeerSession, type V2State } from './v2/v2_state.js';

const { keySchema: key, signatureSchema: signature } = wireV1;
const id = z.number().int().min(0).max(0x7fffffff);
const date = z.iso.datetime().transform((text) => new Date(text));
const counter = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const peer = wireV2.deviceNameSchema;

/** A Double Ratchet state in its binary form, checked by decoding it. */
const ratchetState = z.string().transform((text, context) => {
  try {
    const bytes = decodeBase64url(text);
    decodeRatchetSession(bytes);
    return bytes;
  } catch (error) {
    context.addIssue({ code: 'custom', message: `not a ratchet session: ${(error as Error).message}` });
    return z.NEVER;
  }
});
const sessionCommon = { peerIdentityKey: key, role: z.enum(['initiator', 'responder']), establishedAt: date };
const sharedKeySessionFields = { ...sessionCommon, sharedKey: key, sendNext: counter, receivedFloor: counter, receivedAbove: z.array(counter) };
const peerSession = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('shared-key'), ...sharedKeySessionFields }),
  z.object({ kind: z.literal('ratchet'), ...sessionCommon, ratchet: ratchetState, sent: counter }),
]);
const sessionRecord = z.union([
  z.object({ peer, current: peerSession, archived: z.array(peerSession).max(ARCHIVED_SESSIONS_KEPT), ratchetAnswered: z.boolean() }),
  // Stores written before the Double Ratchet: one envelope-version-1 session per peer.
  z.object({ peer, ...sharedKeySessionFields }).transform((s) => ({
    peer: s.peer, current: { kind: 'shared-key' as const, ...s }, archived: [], ratchetAnswered: false,
  })),
]);

/** The v2 part; stores written before v2 existed have none and load with an empty one. */
const v2Schema = z.object({
  pins: z.array(z.object({
    peer, identityKey: key, pinnedAt: date, verifiedAt: date.optional(), epoch: z.number().int().min(1).optional(), certifiedRotationAt: date.optional(),
  })),
  sessions: z.array(sessionRecord),
  acceptedHandshakes: z.array(z.object({ signedPreKeyId: id, ephemeralKey: key })),
  handledMailboxIds: z.array(wireV2.mailboxIdSchema),
  outbox: z.array(z.object({
    id: wireV2.clientMessageIdSchema, to: peer, type: wireV2.messageTypeSchema, envelope: wireV2.envelopeSchema, createdAt: date,
  })),
  unread: z.array(z.object({
    mailboxId: wireV2.mailboxIdSchema, peer, kind: z.enum(['handshake', 'message']), text: z.string(), receivedAt: date,
  })),
  // Stores written before refusals were recorded have none.
  refused: z.array(z.object({ mailboxId: wireV2.mailboxIdSchema, peer, reason: z.string(), refusedAt: date })).optional(),
  pendingIdentityPrivateKey: key.nullable().optional(),
});

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
  v2: v2Schema.optional(),
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
    v2: v2ToJson(state.v2),
  };
}

function v2ToJson(v2: V2State): z.input<typeof v2Schema> {
  const b64 = encodeBase64url;
  return {
    pins: [...v2.pins].map(([name, pin]) => ({
      peer: name, identityKey: b64(pin.identityKey), pinnedAt: pin.pinnedAt.toISOString(), verifiedAt: pin.verifiedAt?.toISOString(),
      epoch: pin.epoch, certifiedRotationAt: pin.certifiedRotationAt?.toISOString(),
    })),
    sessions: [...v2.sessions.values()].map((r) => ({
      peer: r.peer, current: sessionToJson(r.current), archived: r.archived.map(sessionToJson), ratchetAnswered: r.ratchetAnswered,
    })),
    acceptedHandshakes: v2.acceptedHandshakes.map((h) => ({ signedPreKeyId: h.signedPreKeyId, ephemeralKey: b64(h.ephemeralKey) })),
    handledMailboxIds: v2.handledMailboxIds,
    outbox: v2.outbox.map((m) => ({ id: b64(m.id), to: m.to, type: m.type, envelope: b64(m.envelope), createdAt: m.createdAt.toISOString() })),
    unread: v2.unread.map((u) => ({ ...u, receivedAt: u.receivedAt.toISOString() })),
    refused: v2.refused.map((r) => ({ ...r, refusedAt: r.refusedAt.toISOString() })),
    pendingIdentityPrivateKey: v2.pendingIdentity ? b64(v2.pendingIdentity.privateKey) : null,
  };
}

function sessionToJson(s: PeerSession): z.input<typeof peerSession> {
  const common = { peerIdentityKey: encodeBase64url(s.peerIdentityKey), role: s.role, establishedAt: s.establishedAt.toISOString() };
  return s.kind === 'ratchet'
    ? { kind: 'ratchet', ...common, ratchet: encodeBase64url(s.ratchet), sent: s.sent }
    : { kind: 'shared-key', ...common, sharedKey: encodeBase64url(s.sharedKey), sendNext: s.sendNext, receivedFloor: s.receivedFloor, receivedAbove: s.receivedAbove };
}

function sessionFromJson(s: z.output<typeof peerSession>): PeerSession {
  const common = { peerIdentityKey: identityKey(s.peerIdentityKey), role: s.role, establishedAt: s.establishedAt };
  return s.kind === 'ratchet'
    ? { kind: 'ratchet', ...common, ratchet: s.ratchet, sent: s.sent }
    : { kind: 'shared-key', ...common, sharedKey: sharedKey(s.sharedKey), sendNext: s.sendNext, receivedFloor: s.receivedFloor, receivedAbove: s.receivedAbove };
}

function v2FromJson(json: z.output<typeof v2Schema> | undefined): V2State {
  if (json === undefined) return emptyV2State();
  return {
    pins: new Map(json.pins.map((pin) => [pin.peer, {
      identityKey: identityKey(pin.identityKey), pinnedAt: pin.pinnedAt, verifiedAt: pin.verifiedAt, epoch: pin.epoch,
      certifiedRotationAt: pin.certifiedRotationAt,
    }])),
    sessions: new Map(json.sessions.map((r) => [r.peer, {
      peer: r.peer, current: sessionFromJson(r.current), archived: r.archived.map(sessionFromJson), ratchetAnswered: r.ratchetAnswered,
    }])),
    acceptedHandshakes: json.acceptedHandshakes,
    handledMailboxIds: json.handledMailboxIds,
    outbox: json.outbox,
    unread: json.unread,
    refused: json.refused ?? [],
    pendingIdentity: json.pendingIdentityPrivateKey ? keyPairFromPrivateKey(json.pendingIdentityPrivateKey) : null,
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
    v2: v2FromJson(s.v2),
  };
}
