import { checkLength, concatBytes, utf8 } from '../bytes.js';
import { InvalidMessageError } from '../errors.js';
import { SIGNATURE_BYTES, X25519_KEY_BYTES } from '../sizes.js';
import { xeddsaSign, xeddsaVerify } from '../xeddsa.js';
import type { PreKeyBundle } from '../x3dh.js';
import { isDeviceName } from './topics.js';
import { MAX_PREKEY_ID } from './schemas.js';

/** A bundle as v2 hands it out: its signed prekey's signature covers the device name and the prekey id too. */
export interface V2PreKeyBundle extends PreKeyBundle {
  /** The name the bundle was fetched for. */
  device: string;
  signedPreKeyId: number;
}

const DOMAIN = utf8.encode('x3dh-iot/v2/signed-prekey\0');

/**
 * What a v2 identity key signs for its signed prekey (docs/protocol-v2.md section 6.3):
 * domain || len8(device) || device || u32(id) || key (32 bytes). Naming the device and the id
 * means a server cannot hand out a signed prekey under another id or another device's name
 * without the fetching device noticing. (v1 signs the 32 key bytes alone, as its firmware does.)
 */
export function signedPreKeySignatureInput(device: string, id: number, key: Uint8Array): Uint8Array {
  if (!isDeviceName(device)) throw new InvalidMessageError('invalid device name');
  if (!Number.isInteger(id) || id < 0 || id > MAX_PREKEY_ID) throw new InvalidMessageError(`signed prekey id must be an integer from 0 to ${MAX_PREKEY_ID}`);
  const name = utf8.encode(device);
  const idBytes = new Uint8Array(4);
  new DataView(idBytes.buffer).setUint32(0, id);
  return concatBytes(DOMAIN, Uint8Array.of(name.length), name, idBytes, checkLength('signed prekey', key, X25519_KEY_BYTES));
}

export function signSignedPreKey(identityPrivateKey: Uint8Array, device: string, id: number, key: Uint8Array): Uint8Array {
  return xeddsaSign(identityPrivateKey, signedPreKeySignatureInput(device, id, key));
}

export function verifySignedPreKey(identityKey: Uint8Array, device: string, id: number, key: Uint8Array, signature: Uint8Array): boolean {
  checkLength('signed prekey signature', signature, SIGNATURE_BYTES);
  return xeddsaVerify(identityKey, signedPreKeySignatureInput(device, id, key), signature);
}
