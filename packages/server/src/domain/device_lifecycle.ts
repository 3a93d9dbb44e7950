import type { Sql } from '../storage/database.js';
import { deleteOneTimePreKeys } from '../storage/queries/directory_queries.js';
import { deleteMailbox, forgetCorrespondence } from '../storage/queries/mailbox_message_queries.js';
import { markDeviceDeleted, setDeviceDisabled, setIdentityKey } from '../storage/queries/v2_device_queries.js';
import { refuse, type Refusal } from './refusal.js';

/**
 * Replaces a device's identity key. Its signed and one-time prekeys go: the old key signed them,
 * and a peer must not start a session with the new identity on them. The mailbox stays.
 */
export async function rotateIdentity(sql: Sql, deviceId: string, newIdentityKey: Uint8Array): Promise<void> {
  await setIdentityKey(sql, deviceId, newIdentityKey);
  await deleteOneTimePreKeys(sql, deviceId);
}

/** Deletes a device's prekeys and mailbox; its name stays reserved for its identity key. */
export async function deleteDevice(sql: Sql, deviceId: string): Promise<void> {
  await markDeviceDeleted(sql, deviceId);
  await deleteOneTimePreKeys(sql, deviceId);
  await deleteMailbox(sql, deviceId);
}

/**
 * The operator's delete: the device's data goes (prekeys, mailbox, rate allowances and records of
 * its sends) and it stays disabled, so that its identity key, which may be stolen, cannot restore
 * it; the name stays reserved until an enrolment with a new token.
 */
export async function removeDevice(sql: Sql, deviceId: string, name: string): Promise<void> {
  await setDeviceDisabled(sql, name, true);
  await deleteDevice(sql, deviceId);
  await forgetCorrespondence(sql, deviceId);
}

/** The answer to every request of a device the operator disabled or deleted, but an enrolment with a new token. */
export const disabledRefusal = (name: string): Refusal =>
  refuse('device_disabled', `${name} is disabled by the operator; it can only enrol again, with a new enrolment token`);
