import { checkLength, concatBytes, utf8 } from '../bytes.js';
import { InvalidMessageError } from '../errors.js';
import { SIGNATURE_BYTES, X25519_KEY_BYTES } from '../sizes.js';
import { xeddsaSign, xeddsaVerify } from '../xeddsa.js';
import { isDeploymentId, isDeviceName } from './topics.js';

const DOMAIN = utf8.encode('x3dh-iot/v2/identity-certificate\0');
/** Epochs are unsigned 64-bit on the wire; kept below 2^53 so they stay exact JavaScript numbers. */
export const MAX_IDENTITY_EPOCH = Number.MAX_SAFE_INTEGER;

/** What the operator's key certifies: this identity key is `device`'s, from `epoch` on, in one deployment. */
export interface CertifiedIdentity {
  device: string;
  identityKey: Uint8Array;
  /** 1 at enrolment, one more at every identity change. */
  epoch: number;
  deploymentId: string;
}

/**
 * The byte string an identity certificate signs (docs/protocol-v2.md section 6.11):
 * domain || len8(device) || device || identity key (32) || u64(epoch) || len8(deployment) || deployment.
 * Every field has a fixed size or a length prefix, and the domain keeps it apart from every other
 * string the operator's key could sign.
 */
export function identityCertificateInput(identity: CertifiedIdentity): Uint8Array {
  if (!isDeviceName(identity.device)) throw new InvalidMessageError('invalid device name');
  if (!isDeploymentId(identity.deploymentId)) throw new InvalidMessageError('invalid deployment id');
  if (!Number.isSafeInteger(identity.epoch) || identity.epoch < 1) throw new InvalidMessageError('an identity epoch is an integer from 1');
  const name = utf8.encode(identity.device);
  const deployment = utf8.encode(identity.deploymentId);
  const epoch = new Uint8Array(8);
  new DataView(epoch.buffer).setBigUint64(0, BigInt(identity.epoch));
  return concatBytes(
    DOMAIN, Uint8Array.of(name.length), name, checkLength('identity key', identity.identityKey, X25519_KEY_BYTES), epoch,
    Uint8Array.of(deployment.length), deployment,
  );
}

/** The operator's XEdDSA signature over identityCertificateInput, made with its X25519 private key. */
export function signIdentityCertificate(operatorPrivateKey: Uint8Array, identity: CertifiedIdentity): Uint8Array {
  return xeddsaSign(operatorPrivateKey, identityCertificateInput(identity));
}

/** True when `signature` is the operator's certificate of exactly this device, key, epoch and deployment. */
export function verifyIdentityCertificate(operatorPublicKey: Uint8Array, identity: CertifiedIdentity, signature: Uint8Array): boolean {
  checkLength('identity certificate', signature, SIGNATURE_BYTES);
  return xeddsaVerify(operatorPublicKey, identityCertificateInput(identity), signature);
}
