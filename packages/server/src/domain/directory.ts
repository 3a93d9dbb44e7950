import { constantTimeEqual, wireV1 } from '@x3dh-iot/protocol';
import type { Sql } from '../storage/database.js';
import {
  claimBundle, deleteOneTimePreKeys, findIdentityKey, insertOneTimePreKeys, insertUser, listUsernames,
  updateSignedPreKey,
} from '../storage/queries/directory_queries.js';
import type { Bucket } from '../storage/queries/fetch_allowance_queries.js';

/**
 * Directory rules of wire protocol v1: who is registered under which name, and their prekeys. Names
 * are unique across v1 and v2, but v1 sees only the devices registered over v1 (directory_queries).
 */

export interface OneTimePreKey { id: number; key: Uint8Array }

export interface Bundle {
  identityKey: Uint8Array;
  signedPreKey: Uint8Array;
  signedPreKeySignature: Uint8Array;
  /** Absent when the user has no one-time prekey left. */
  oneTimePreKey?: OneTimePreKey;
}

/** Renamed candidates tried before giving up: foo, foo2, ..., foo1000. */
const MAX_NAME_CANDIDATES = 1000;

/**
 * Registers an identity key under the requested name, or under the first free renamed variant
 * (foo2, foo3, ...) when the name belongs to another key or to a v2 device (whatever its key: v2
 * identity keys are public). A v1 name already holding this same key is the same device
 * registering again and is returned unchanged, so registration is idempotent.
 * Null when no candidate fits the length limit.
 */
export async function registerIdentity(sql: Sql, requested: string, identityKey: Uint8Array): Promise<string | null> {
  for (let n = 1; n <= MAX_NAME_CANDIDATES; n += 1) {
    const candidate = n === 1 ? requested : `${requested}${n}`;
    if (candidate.length > wireV1.MAX_USERNAME_LENGTH) return null;
    if (await insertUser(sql, candidate, identityKey)) return candidate;
    const holder = await findIdentityKey(sql, candidate);
    if (holder !== null && constantTimeEqual(holder, identityKey)) return candidate;
  }
  return null;
}

/** Replaces the user's signed prekey and all their one-time prekeys; false for an unknown user. */
export async function replaceBundle(
  sql: Sql, username: string, signedPreKey: Uint8Array, signature: Uint8Array, oneTimePreKeys: readonly OneTimePreKey[],
): Promise<boolean> {
  const userId = await updateSignedPreKey(sql, username, signedPreKey, signature);
  if (userId === null) return false;
  await deleteOneTimePreKeys(sql, userId);
  await insertOneTimePreKeys(sql, userId, oneTimePreKeys);
  return true;
}

/**
 * The user's bundle with one one-time prekey handed out for good, while the user's per-target
 * bucket allows (else without one); null when there is no bundle.
 */
export async function takeBundle(sql: Sql, username: string, bucket: Bucket): Promise<Bundle | null> {
  const row = await claimBundle(sql, username, bucket);
  if (!row || !row.signed_prekey || !row.signed_prekey_signature) return null;
  return {
    identityKey: row.identity_key,
    signedPreKey: row.signed_prekey,
    signedPreKeySignature: row.signed_prekey_signature,
    ...(row.key_id !== null && row.public_key ? { oneTimePreKey: { id: row.key_id, key: row.public_key } } : {}),
  };
}

export const listUsers = listUsernames;
