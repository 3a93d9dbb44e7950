import { generateKeyPair, wireV2 } from '@x3dh-iot/protocol';
import type { Database } from '../src/storage/database.js';
import {
  insertEnrolledDevices, insertOneTimePreKeysOfDevices, type EnrolledDevice,
} from '../src/storage/queries/bulk_enrolment_queries.js';

/** Enrolled v2 devices made in batches for the fleet generator and the connection benchmark. */

export interface FleetBatch { devices: EnrolledDevice[]; preKeys: { device: string; id: number; key: Uint8Array }[] }

/**
 * Devices <prefix>first to <prefix>(first+n-1) with real keys, as a device makes them when it enrols
 * and publishes: an X25519 identity key, signed prekey 1 signed by it over (name, id, key) as v2 has it, one-time prekeys 1 to `preKeys`.
 */
export function generateBatch(prefix: string, first: number, n: number, preKeys: number): FleetBatch {
  const batch: FleetBatch = { devices: [], preKeys: [] };
  for (let i = first; i < first + n; i += 1) {
    const name = `${prefix}${i}`;
    const identity = generateKeyPair();
    const signed = generateKeyPair();
    batch.devices.push({
      name, identityKey: identity.publicKey,
      signedPreKey: { id: 1, key: signed.publicKey, signature: wireV2.signSignedPreKey(identity.privateKey, name, 1, signed.publicKey) },
      maxOneTimePreKeyId: preKeys === 0 ? null : preKeys,
    });
    for (let id = 1; id <= preKeys; id += 1) batch.preKeys.push({ device: name, id, key: generateKeyPair().publicKey });
  }
  return batch;
}

/** One transaction per batch: the devices, then their one-time prekeys. */
export async function storeBatch(database: Database, batch: FleetBatch): Promise<void> {
  await database.transaction(async (sql) => {
    const ids = await insertEnrolledDevices(sql, batch.devices);
    // Several statements of at most 10,000 rows each keep the parameter arrays to a few hundred KiB.
    for (let first = 0; first < batch.preKeys.length; first += 10_000) {
      const chunk = batch.preKeys.slice(first, first + 10_000);
      await insertOneTimePreKeysOfDevices(sql, chunk.map((k) => ids.get(k.device)!), chunk.map((k) => k.id), chunk.map((k) => k.key));
    }
  });
}

