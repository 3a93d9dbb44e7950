import { randomBytes } from 'node:crypto';
import { wireV1 } from '@x3dh-iot/protocol';

/** v1 requests with random key material (the server checks lengths and encodings, not signatures). */

/** Random bytes as an X25519 public key: bit 255 clear, as in every canonical encoding (small order is all but impossible). */
export const key = (): Uint8Array => {
  const bytes = randomBytes(32);
  bytes[31]! &= 0x7f;
  return bytes;
};

export const registerIdentity = (username: string, identityKey: Uint8Array = key()) =>
  wireV1.registerIdentityPayload(username, identityKey);

export const registerBundle = (username: string, opkIds: readonly number[] = [0, 1, 2, 3, 4]) =>
  wireV1.registerBundlePayload(username, key(), randomBytes(64), opkIds.map((id) => ({ id, publicKey: key() })));

export const initialMessage = (to: string, from: string, text = 'hello') =>
  JSON.stringify({
    to,
    from,
    ik_b64: Buffer.from(key()).toString('base64url'),
    ek_b64: Buffer.from(key()).toString('base64url'),
    ciphertext_b64: Buffer.from(`${text}`.padEnd(16, '.')).toString('base64url'),
    ad_b64: randomBytes(64).toString('base64url'),
    nonce_b64: randomBytes(24).toString('base64url'),
    opk_id: 0,
  });

export const chatMessage = (from: string, to: string, text: string) =>
  JSON.stringify({
    from, to, ciphertext_b64: Buffer.from(text.padEnd(16, '.')).toString('base64url'),
    nonce_b64: randomBytes(24).toString('base64url'),
  });

/** A username unique to this run, so tests sharing a store do not meet. */
export const uniqueName = (stem: string): string => `${stem}-${randomBytes(3).toString('hex')}`;
