import { constantTimeEqual, wireV2 } from '@x3dh-iot/protocol';
import { RequestRaceError } from '../processing/request_race.js';
import type { Sql } from '../storage/database.js';
import { enrolWithToken, findTokenDigest, reenrolWithToken } from '../storage/queries/enrolment_claim_queries.js';
import { deleteOneTimePreKeys } from '../storage/queries/directory_queries.js';
import { disabledRefusal } from './device_lifecycle.js';
import { findDevice, insertDevice, restoreDevice } from '../storage/queries/v2_device_queries.js';
import { accept, refuse, type Result } from './refusal.js';

/** An enrolment token as an `enroll` request proves it: its id and a MAC over the request's name, key and id. */
export interface TokenClaim {
  tokenId: Uint8Array;
  proof: Uint8Array;
  requestId: Uint8Array;
}

/**
 * Enrolment of a device name with an identity key (docs/protocol-v2.md section 6.1): a name,
 * once held by a key, never goes to another key. A new name needs an operator's enrolment token
 * unless open enrolment is on; the same key enrolling again (also after a soft delete) succeeds
 * without using a token. A device the operator disabled or deleted needs a new token, whatever the key.
 */
export async function enrolDevice(
  sql: Sql, name: string, identityKey: Uint8Array, token: TokenClaim | undefined, openEnrolment: boolean,
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
  const digest = await provenTokenDigest(sql, name, identityKey, token);
  if (!digest.ok) return digest;
  const enrolment = await enrolWithToken(sql, name, identityKey, digest.value);
  if (enrolment.deviceId !== null) return accept(undefined);
  // The token was used up for a name that someone else got meanwhile: roll back, keep the token.
  if (enrolment.tokenUsed) throw new RequestRaceError(`enrolment of ${name}`);
  return badToken();
}

const badToken = () => refuse('enrolment_required', 'the enrolment token is unknown, used, revoked, expired or for another device');

/**
 * The stored digest of the token the claim names, when the claim's MAC verifies under the key
 * derived from it for this name, identity key and request id (a proof captured on the broker
 * proves nothing for another name, key or request). Whether the token is still valid is decided
 * where it is used up.
 */
async function provenTokenDigest(sql: Sql, name: string, identityKey: Uint8Array, claim: TokenClaim): Promise<Result<Uint8Array>> {
  const digest = await findTokenDigest(sql, claim.tokenId);
  if (digest === null) return badToken();
  if (!wireV2.verifyEnrolmentProof(wireV2.enrolmentMacKey(digest), name, identityKey, claim.requestId, claim.proof)) {
    return refuse('enrolment_required', 'the enrolment token proof does not verify for this device name, identity key and request (wrong token)');
  }
  return accept(digest);
}

/**
 * A device the operator disabled or deleted comes back only with a new enrolment token, under open
 * enrolment too, and then with the key of this enrolment (its old key may be the stolen one): the
 * old signed and one-time prekeys go, as on a rotation.
 */
async function reenrolDisabled(sql: Sql, name: string, identityKey: Uint8Array, token: TokenClaim | undefined): Promise<Result<void>> {
  if (token === undefined) return disabledRefusal(name);
  const digest = await provenTokenDigest(sql, name, identityKey, token);
  if (!digest.ok) return digest;
  const enrolment = await reenrolWithToken(sql, name, identityKey, digest.value);
  if (enrolment.deviceId !== null) {
    await deleteOneTimePreKeys(sql, enrolment.deviceId);
    return accept(undefined);
  }
  if (enrolment.tokenUsed) throw new RequestRaceError(`enrolment of ${name}`);
  return badToken();
}
