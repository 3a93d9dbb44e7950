import { encodeBase64url as b64, wireV2 } from '@x3dh-iot/protocol';
import { handOutBundle } from '../domain/bundle_handout.js';
import { deleteDevice, rotateIdentity } from '../domain/device_lifecycle.js';
import { enrolDevice } from '../domain/enrolment.js';
import { acknowledgeMessages, fetchMailbox, sendMessage } from '../domain/mailbox_delivery.js';
import { preKeyStatus, uploadPreKeys } from '../domain/prekey_stock.js';
import type { Push, Reply } from '../processing/request_protocol.js';
import { isRequestIdUsed, type RequestIdUsed } from '../domain/refusal.js';
import type { Sql } from '../storage/database.js';
import type { RequestIdGate } from '../storage/queries/request_id_queries.js';
import type { MailboxMessageRow } from '../storage/queries/mailbox_message_queries.js';
import { findDevice, listDeviceNames, type DeviceRow } from '../storage/queries/v2_device_queries.js';
import { targetBucket, type V2Settings } from './v2_settings.js';
import { identityCertificate } from './identity_certificates.js';
import type { OperatorIdentity } from './operator_identity.js';
import { errorReply, okReply, pushTo, refusalReply } from './v2_replies.js';

/** A validated, authenticated request: its operation with its parsed body. */
export type V2Call = { [O in wireV2.V2Operation]: { operation: O; body: wireV2.RequestBody<O> } }[wireV2.V2Operation];

const messageJson = (m: MailboxMessageRow) => ({
  id: m.id, from: m.sender, type: m.type as wireV2.MessageType, envelope: b64(m.envelope), client_id: b64(m.client_id),
  queued_at: Math.round(m.queued_at),
});

/**
 * The operations that record the request id (check 5) in their own first statement and run only
 * when it was recorded, sparing a round trip: the frequent ones. The others run after
 * checkRequestId.
 */
const RECORDING_OWN_REQUEST_ID = ['bundle.fetch', 'message.send', 'mailbox.fetch', 'mailbox.ack'] as const;
export type RecordingCall = Extract<V2Call, { operation: (typeof RECORDING_OWN_REQUEST_ID)[number] }>;

export const recordsOwnRequestId = (call: V2Call): call is RecordingCall =>
  (RECORDING_OWN_REQUEST_ID as readonly string[]).includes(call.operation);

/**
 * Runs one v2 operation for an authenticated device (null only for an enrolment of a new name) and
 * words its result, refusal and pushes (docs/protocol-v2.md section 6). For the operations of
 * recordsOwnRequestId, `gate` is the request id to record: REQUEST_ID_USED, having changed nothing,
 * when it was used before.
 */
export async function runOperation(
  sql: Sql, name: string, device: DeviceRow | null, call: V2Call, settings: V2Settings, operator: OperatorIdentity, gate: RequestIdGate,
): Promise<Reply | RequestIdUsed> {
  if (call.operation === 'enroll') {
    const { identity_key: key, token_id: tokenId, token_proof: proof } = call.body;
    const token = tokenId !== undefined && proof !== undefined ? { tokenId, proof, requestId: gate.record.requestId } : undefined;
    const result = await enrolDevice(sql, name, key, token, settings.openEnrolment);
    if (!result.ok) return refusalReply(result);
    await certifyCurrentIdentity(sql, operator, name);
    return okReply('enroll', { device: name, identity_key: b64(key) });
  }
  const self = device!;
  if (recordsOwnRequestId(call)) return runRecordingOperation(sql, name, self.id, call, settings, operator, gate);
  switch (call.operation) {
    case 'identity.rotate': {
      const { new_identity_key: newKey, proof } = call.body;
      if (!wireV2.verifyRotationProof(newKey, name, self.identity_key, proof)) {
        return errorReply('bad_signature', 'proof does not verify under new_identity_key');
      }
      await rotateIdentity(sql, self.id, newKey);
      await certifyCurrentIdentity(sql, operator, name);
      return okReply('identity.rotate', { device: name, identity_key: b64(newKey) });
    }

    case 'prekeys.upload': {
      const { signed_prekey: signedPreKey, one_time_prekeys: oneTimePreKeys } = call.body;
      const result = await uploadPreKeys(sql, name, self, { signedPreKey, oneTimePreKeys }, settings.preKeyCap);
      if (!result.ok) return refusalReply(result);
      return okReply('prekeys.upload', { one_time_prekeys: result.value.oneTimePreKeys, signed_prekey_id: result.value.signedPreKeyId });
    }

    case 'prekeys.status': {
      const status = await preKeyStatus(sql, self, call.body.forget_handed_out_through, wireV2.MAX_HANDED_OUT_LISTED);
      return okReply('prekeys.status', {
        one_time_prekeys: status.oneTimePreKeys,
        signed_prekey_id: status.signedPreKeyId,
        signed_prekey_uploaded_at: status.signedPreKeyUploadedAt === null ? null : Math.round(status.signedPreKeyUploadedAt),
        max_one_time_prekey_id: status.maxOneTimePreKeyId,
        max_signed_prekey_id: status.maxSignedPreKeyId,
        signed_prekey_digest: status.signedPreKeyDigest,
        handed_out_one_time_prekeys: status.handedOut.map((h) => ({ id: h.id, handed_out_at: h.handedOutAt })),
        message_retention_ms: settings.messageRetentionSeconds * 1000,
      });
    }

    case 'directory.list':
      return okReply('directory.list', {
        devices: await listDeviceNames(sql, call.body.after ?? null, call.body.limit ?? wireV2.MAX_DIRECTORY_PAGE),
      });

    case 'directory.lookup': {
      const target = await findDevice(sql, call.body.device);
      if (target === null || target.deleted || target.disabled || target.v1) return errorReply('unknown_device', `${call.body.device} is not enrolled`);
      return okReply('directory.lookup', {
        device: call.body.device, identity_key: b64(target.identity_key),
        certificate: await identityCertificate(sql, operator, call.body.device, target),
      });
    }

    case 'device.delete':
      await deleteDevice(sql, self.id);
      return okReply('device.delete', { deleted: true });
  }
}

/** Issues (and stores) the certificate of the identity a device has just been enrolled or rotated to. */
async function certifyCurrentIdentity(sql: Sql, operator: OperatorIdentity, name: string): Promise<void> {
  const row = await findDevice(sql, name);
  if (row !== null) await identityCertificate(sql, operator, name, row);
}

/**
 * The operations of recordsOwnRequestId, which need no more of the requester than its row id:
 * so they also run for a request checked against a remembered identity key (the gate's
 * verifiedWith), without reading the device first.
 */
export async function runRecordingOperation(
  sql: Sql, name: string, deviceId: string, call: RecordingCall, settings: V2Settings, operator: OperatorIdentity, gate: RequestIdGate,
): Promise<Reply | RequestIdUsed> {
  switch (call.operation) {
    case 'bundle.fetch': {
      const target = call.body.device;
      const result = await handOutBundle(sql, deviceId, target, {
        requester: { burst: settings.fetchBurst, intervalMs: settings.fetchIntervalSeconds * 1000 },
        target: targetBucket(settings),
      }, settings.preKeyLowThreshold, gate);
      if (isRequestIdUsed(result)) return result;
      if (!result.ok) return refusalReply(result);
      const bundle = result.value;
      const pushes: Push[] = bundle.stockLeft < settings.preKeyLowThreshold
        ? [pushTo(target, { type: 'prekeys_low', one_time_prekeys: bundle.stockLeft })] : [];
      return okReply('bundle.fetch', {
        device: target,
        identity_key: b64(bundle.identityKey),
        signed_prekey: { id: bundle.signedPreKey.id, key: b64(bundle.signedPreKey.key), signature: b64(bundle.signedPreKey.signature) },
        ...(bundle.oneTimePreKey ? { one_time_prekey: { id: bundle.oneTimePreKey.id, key: b64(bundle.oneTimePreKey.key) } } : {}),
        certificate: await identityCertificate(sql, operator, target, bundle.identity),
      }, pushes);
    }

    case 'message.send': {
      const { to, id, type, envelope } = call.body;
      const result = await sendMessage(sql, deviceId, name, { to, clientId: id, type, envelope }, {
        maxMessages: settings.mailboxMaxMessages, maxBytes: settings.mailboxMaxBytes,
        retentionSeconds: settings.messageRetentionSeconds, perCorrespondent: settings.mailboxMaxPerSender,
        perStranger: settings.mailboxMaxPerNewSender, strangers: settings.mailboxMaxFromNewSenders,
        sends: { burst: settings.sendBurst, intervalMs: settings.sendIntervalSeconds * 1000 },
      }, gate);
      if (isRequestIdUsed(result)) return result;
      if (!result.ok) return refusalReply(result);
      const queued = result.value;
      const pushes = queued.message ? [pushTo(to, { type: 'message', message: messageJson(queued.message) })] : [];
      return okReply('message.send', { message_id: queued.messageId, queued_at: Math.round(queued.queuedAt) }, pushes);
    }

    case 'mailbox.fetch': {
      const messages = await fetchMailbox(sql, deviceId, call.body.after, call.body.limit ?? 50, gate);
      if (isRequestIdUsed(messages)) return messages;
      return okReply('mailbox.fetch', { messages: messages.map(messageJson) });
    }

    case 'mailbox.ack': {
      const acknowledged = await acknowledgeMessages(sql, deviceId, call.body.ids, gate);
      if (isRequestIdUsed(acknowledged)) return acknowledged;
      return okReply('mailbox.ack', { acknowledged });
    }
  }
}
