import { encodeBase64url } from '@x3dh-iot/protocol';
import type { Sql } from '../storage/database.js';
import { storeIdentityCertificate } from '../storage/queries/v2_device_queries.js';
import type { OperatorIdentity } from './operator_identity.js';

/** A device's identity as stored: what its certificate covers, and the certificate if one was issued. */
export interface StoredIdentity {
  id: string;
  identity_key: Uint8Array;
  identity_epoch: number;
  identity_certificate: Uint8Array | null;
  certificate_issuer: string | null;
}

/** `"certificate"` of bundle.fetch and directory.lookup results. */
export interface CertificateJson {
  epoch: number;
  signature: string;
}

/**
 * The certificate of a device's identity as the wire carries it (docs/protocol-v2.md section 6.11):
 * the stored one when this operator key and deployment issued it; else issued now and stored in
 * the request's transaction (an enrolment or rotation just happened, the device predates
 * certificates, the operator set its key, or the operator key or deployment id changed).
 */
export async function identityCertificate(
  sql: Sql, operator: OperatorIdentity, device: string, identity: StoredIdentity,
): Promise<CertificateJson> {
  let certificate = identity.identity_certificate;
  if (certificate === null || identity.certificate_issuer !== operator.issuer) {
    certificate = operator.certify(device, identity.identity_key, identity.identity_epoch);
    await storeIdentityCertificate(sql, identity.id, identity.identity_key, identity.identity_epoch, certificate, operator.issuer);
  }
  return { epoch: identity.identity_epoch, signature: encodeBase64url(certificate) };
}
