import { checkLength, concatBytes, utf8 } from '../bytes.js';
import { InvalidMessageError } from '../errors.js';
import { SIGNATURE_BYTES, X25519_KEY_BYTES } from '../sizes.js';
import { xeddsaSign, xeddsaVerify } from '../xeddsa.js';
import { isDeviceName } from './topics.js';

const DOMAIN = utf8.encode('x3dh-iot/v2/rotate\0');

/** What the new identity key signs to prove possession: domain || len8(device) || device || old identity key. */
export function rotationProofInput(device: string, oldIdentityKey: Uint8Array): Uint8Array {
  if (!isDeviceName(device)) throw new InvalidMessageError('invalid device name');
  const name = utf8.encode(device);
  return concatBytes(DOMAIN, Uint8Array.of(name.length), name, checkLength('old identity key', oldIdentityKey, X25519_KEY_BYTES));
}

export function signRotationProof(newIdentityPrivateKey: Uint8Array, device: string, oldIdentityKey: Uint8Array): Uint8Array {
  return xeddsaSign(newIdentityPrivateKey, rotationProofInput(device, oldIdentityKey));
}

export function verifyRotationProof(newIdentityKey: Uint8Array, device: string, oldIdentityKey: Uint8Array, proof: Uint8Array): boolean {
  checkLength('rotation proof', proof, SIGNATURE_BYTES);
  return xeddsaVerify(newIdentityKey, rotationProofInput(device, oldIdentityKey), proof);
}
