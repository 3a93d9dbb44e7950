import { sha256 } from '@noble/hashes/sha2.js';
import { encodeBase64url } from '../base64url.js';
import { concatBytes } from '../bytes.js';

/**
 * `signed_prekey_digest` of `prekeys.status` (docs/protocol-v2.md section 6.4): base64url SHA-256 of
 * u32(id) || key (32 bytes) || signature (64 bytes), the signed prekey as the server holds it. A
 * device comparing it with its own current signed prekey sees any change made to it behind its back.
 */
export function signedPreKeyDigest(preKey: { id: number; key: Uint8Array; signature: Uint8Array }): string {
  const id = new Uint8Array(4);
  new DataView(id.buffer).setUint32(0, preKey.id);
  return encodeBase64url(sha256(concatBytes(id, preKey.key, preKey.signature)));
}
