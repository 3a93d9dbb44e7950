import { encodeBase64url as b64 } from '../base64url.js';
import type { InitialMessage } from '../initial_message.js';
import type { PreKeyBundle } from '../x3dh.js';
import type { z } from 'zod';
import type { bundleResponse, inboxResponse } from './schemas.js';

/**
 * Builders of v1 payloads in the firmware's exact form: compact JSON, keys in the firmware's
 * order, strings escaped as cJSON does (JSON.stringify agrees: `\"`, `\\`, no escaping of `/`).
 */

export function registerIdentityPayload(username: string, identityKey: Uint8Array): string {
  return JSON.stringify({ username, ik_b64: b64(identityKey) });
}

export function registerBundlePayload(
  username: string,
  signedPreKey: Uint8Array,
  signature: Uint8Array,
  oneTimePreKeys: readonly { id: number; publicKey: Uint8Array }[],
): string {
  return JSON.stringify({
    username,
    spk_b64: b64(signedPreKey),
    spk_sig_b64: b64(signature),
    opks_b64: oneTimePreKeys.map((opk) => ({ id: opk.id, key: b64(opk.publicKey) })),
  });
}

/** The initial message as the firmware publishes it on `x3dh/msg/init`. */
export function initialMessagePayload(to: string, from: string, message: InitialMessage, associatedData: Uint8Array): string {
  return JSON.stringify({
    to,
    from,
    ik_b64: b64(message.identityKey),
    ek_b64: b64(message.ephemeralKey),
    ciphertext_b64: b64(message.ciphertext),
    ad_b64: b64(associatedData),
    nonce_b64: b64(message.nonce),
    opk_id: message.oneTimePreKeyId ?? -1,
  });
}

export function chatSendPayload(from: string, to: string, ciphertext: Uint8Array, nonce: Uint8Array): string {
  return JSON.stringify({ from, to, ciphertext_b64: b64(ciphertext), nonce_b64: b64(nonce) });
}

export function chatFetchPayload(me: string, peer: string): string {
  return JSON.stringify({ to: me, from: peer });
}

/** A parsed bundle response as the protocol core's bundle; the OPK is present iff `opk_b64` is. */
export function bundleFromResponse(response: z.output<typeof bundleResponse>): PreKeyBundle {
  return {
    identityKey: response.ik_b64,
    signedPreKey: response.spk_b64,
    signedPreKeySignature: response.spk_sig_b64,
    oneTimePreKey: response.opk_b64 ? { id: response.opk_id, publicKey: response.opk_b64 } : undefined,
  };
}

/** A parsed inbox response as the protocol core's initial message, with the AD it carried. */
export function initialMessageFromInbox(response: z.output<typeof inboxResponse>): {
  from: string; message: InitialMessage; carriedAssociatedData: Uint8Array;
} {
  return {
    from: response.from_user,
    message: {
      identityKey: response.ik_b64,
      ephemeralKey: response.ek_b64,
      oneTimePreKeyId: response.opk_id >= 0 ? response.opk_id : null,
      nonce: response.nonce_b64,
      ciphertext: response.ciphertext_b64,
    },
    carriedAssociatedData: response.ad_b64,
  };
}
