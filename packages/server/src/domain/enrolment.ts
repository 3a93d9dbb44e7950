import { createHash } from 'node:crypto';
import { constantTimeEqual } from '@x3dh-iot/protocol';
import { RequestRaceError } from '../processing/request_race.js';
import type { Sql } from '../storage/database.js';
import { enrolWithToken } from '../storage/queries/enrolment_claim_queries.js';
import { findDevice, insertDevice, restoreDevice } from '../storage/queries/v2_device_queries.js';
import { accept, refuse, type Result } from './refusal.js';

/**
 * Enrolment of a device name with an identity key (docs/protocol-v2.md section 6.1): a name,
 * once held by a key, never goes to another key. A new name needs an operator's enrolment token
 * unless open enrolment is on; the same key enrolling again (also after a soft delete) succeeds
 * without using a token.
 */
export async function enrolDevice(
  sql: Sql, name: string, identityKey: Uint8Array, token: string | undefined, openEnrolment: boolean,
): Promise<Result<void>> {
  const existing = await findDevice(sql, name);
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
  // Only digests are stored, so the token's value is never in the database.
  const digest = createHash('sha256').update(token, 'utf8').digest();
  const enrolment = await enrolWithToken(sql, name, identityKey, digest);
  if (enrolment.deviceId !== null) return accept(undefined);
  // The token was used up for a name that someone else got meanwhile: roll back, keep the token.
  if (enrolment.tokenUsed) throw new RequestRaceError(`enrolment of ${name}`);
  return refuse('enrolment_required', 'the enrolment token is unknown, used, revoked, expired or for another device');
}
