import type { Sql } from '../storage/database.js';
import { handOutBundleRow, type FetchBuckets } from '../storage/queries/fetch_allowance_queries.js';
import type { RequestIdGate } from '../storage/queries/request_id_queries.js';
import type { OneTimePreKey } from './directory.js';
import type { StoredIdentity } from '../v2/identity_certificates.js';
import { accept, refuse, REQUEST_ID_USED, type RequestIdUsed, type Result } from './refusal.js';

/** A v2 bundle: the signed prekey carries its id, the one-time prekey is absent when the stock is empty. */
export interface IdentifiedBundle {
  identityKey: Uint8Array;
  signedPreKey: { id: number; key: Uint8Array; signature: Uint8Array };
  oneTimePreKey?: OneTimePreKey;
  /** One-time prekeys the target has left after this hand-out, exact below the low-stock threshold (else at least the threshold). */
  stockLeft: number;
  /** The target's identity as stored, for its certificate. */
  identity: StoredIdentity;
}

/**
 * Hands out the target's bundle with its oldest one-time prekey, deleted in the same transaction
 * (docs/protocol-v2.md section 6.5). A token bucket per (requester, target) bounds how fast one
 * requester can fetch, refusing beyond it; a bucket per target bounds the one-time prekeys all
 * requesters together take, so many (Sybil) requesters cannot drain the stock either. Beyond the
 * target's bucket the bundle goes out without a one-time prekey rather than being refused: whoever
 * keeps that bucket empty must not make the target unreachable. A target without a bundle costs no
 * token. Runs only once the request id is recorded (REQUEST_ID_USED, changing nothing, when the id
 * was used before).
 */
export async function handOutBundle(
  sql: Sql, requesterId: string, target: string, buckets: FetchBuckets, lowStock: number, gate: RequestIdGate,
): Promise<Result<IdentifiedBundle> | RequestIdUsed> {
  const row = await handOutBundleRow(sql, requesterId, target, buckets, lowStock, gate);
  if (!row.request_recorded) return REQUEST_ID_USED;
  if (row.id === null || row.deleted) return refuse('unknown_device', `${target} is not enrolled`);
  // A bundle registered over v1 has no signed prekey id, which v2 envelopes name: not a v2 bundle.
  if (row.signed_prekey_id === null || row.signed_prekey === null || row.signed_prekey_signature === null) {
    return refuse('not_found', `${target} has no bundle`);
  }
  if (!row.token_taken) {
    const wait = Math.ceil(row.wait_ms ?? 0);
    return refuse('rate_limited', `too many bundle fetches for ${target}; retry in ${Math.ceil(wait / 1000)} s`, wait);
  }
  return accept({
    identityKey: row.identity_key,
    signedPreKey: { id: row.signed_prekey_id, key: row.signed_prekey, signature: row.signed_prekey_signature },
    ...(row.key_id !== null && row.public_key !== null ? { oneTimePreKey: { id: row.key_id, key: row.public_key } } : {}),
    stockLeft: row.stock_left!,
    identity: {
      id: row.id, identity_key: row.identity_key, identity_epoch: row.identity_epoch,
      identity_certificate: row.identity_certificate, certificate_issuer: row.certificate_issuer,
    },
  });
}
