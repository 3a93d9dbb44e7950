import { createHash } from 'node:crypto';
import { constantTimeEqual } from '@x3dh-iot/protocol';
import { RequestRaceError } from '../processing/request_race.js';
import type { Sql } from '../storage/database.js';
import { enrolWithToken, reenrolWithToken } from '../storage/queries/enrolment_claim_queries.js';
import { deleteOneTimePreKeys } from '../storage/queries/directory_queries.js';
import { disabledRefusal } from './device_lifecycle.js';
import { findDevice, insertDevice, restoreDevice } from '../storage/queries/v2_device_queries.js';
import { accept, refuse, type Result } from './refusal.js';

/**
 * Enrolment of a device name with an identity key (docs/protocol-v2.md section 6.1): a name,
 * once held by a key, never goes to another key. A new name needs an operator's enrolment token
 * unless open enrolment is on; the same key enrolling again (also after a soft delete) succeeds
 * without using a token. A device the operator disabled or deleted needs a new token, whatever the key.
 */
export async function enrolDevice(
  sql: Sql, name: string, identityKey: Uint8Array, token: string | undefined, openEnrolment: boolean,
): Promise<Result<void>> {
  const existing = await findDevice(sql, name);
  if (existing?.disabled) return reenrolDisabled(sql, name, identityKey, token);
  if (existing !== null) {
    // Whatever its key: v1 registration is unauthenticated, so it proves nothing to take over.
    if (existing.v1) return refuse('name_taken', `the name ${name} is registered over wire protocol v1`);
    if (!constantTimeEqual(existing.identity_key, identityKey)) {
      return refuse('name_taken', `the name ${name} belongs to another identity key`);
    }
    if (existing.deleted) await restoreDevice(sql, existing.id);
    return accept(undefined);
  }
  if (openEnrolment) {
    if (await insertDevice(sql, name, identityKey) === null) throw new RequestRaceError(`enrolment of ${name}`);
    return accept(undefined);
  }
  if (token === undefined) return refuse('enrolment_required', 'an enrolment token is required (open enrolment is off)');
  const enrolment = await enrolWithToken(sql, name, identityKey, tokenDigest(token));
  if (enrolment.deviceId !== null) return accept(undefined);
  // The token was used up for a name that someone else got meanwhile: roll back, keep the token.
  if (enrolment.tokenUsed) throw new RequestRaceError(`enrolment of ${name}`);
  return badToken();
}

const badToken = () => refuse('enrolment_required', 'the enrolment token is unknown, used, revoked, expired or for another device');

/** Only digests are stored, so the token's value is never in the database. */
const tokenDigest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * A device the operator disabled or deleted comes back only with a new enrolment token, under open
 * enrolment too, and then with the key of this enrolment (its old key may be the stolen one): the
 * old signed and one-time prekeys go, as on a rotation.
 */
async function reenrolDisabled(sql: Sql, name: string, identityKey: Uint8Array, token: string | undefined): Promise<Result<void>> {
  if (token === undefined) return disabledRefusal(name);
  const enrolment = await reenrolWithToken(sql, name, identityKey, tokenDigest(token));
  if (enrolment.deviceId !== null) {
    await deleteOneTimePreKeys(sql, enrolment.deviceId);
    return accept(undefined);
  }
  if (enrolment.tokenUsed) throw new RequestRaceError(`enrolment of ${name}`);
  return badToken();
}
