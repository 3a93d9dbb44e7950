import type { Sql } from '../storage/database.js';
import { deleteOneTimePreKeys } from '../storage/queries/directory_queries.js';
import { deleteMailbox } from '../storage/queries/mailbox_message_queries.js';
import { markDeviceDeleted, setIdentityKey } from '../storage/queries/v2_device_queries.js';

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
