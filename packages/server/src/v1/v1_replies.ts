import { encodeBase64url as b64 } from '@x3dh-iot/protocol';
import type { Bundle, InitialMessageRecord } from '../domain/index.js';
import type { Outcome, Reply } from '../processing/request_protocol.js';

/**
 * v1 response payloads, with the keys in the order of the original server's responses. JSON is
 * compact; the firmware's cJSON parser does not depend on spacing.
 */

const reply = (value: unknown, outcome: Outcome = 'ok'): Reply => ({ body: JSON.stringify(value), outcome });

export const errorReply = (error: string, outcome: Outcome, code?: number): Reply =>
  reply(code === undefined ? { error } : { error, code }, outcome);

export const usersReply = (users: string[]) => reply({ users });
export const createdReply = (username: string) => reply({ status: 'created', username });
export const bundleCreatedReply = () => reply({ status: 'bundle created' });
export const deliveredReply = () => reply({ status: 'delivered' });

export const bundleReply = (bundle: Bundle) => reply({
  ik_b64: b64(bundle.identityKey),
  spk_b64: b64(bundle.signedPreKey),
  spk_sig_b64: b64(bundle.signedPreKeySignature),
  opk_id: bundle.oneTimePreKey?.id ?? -1,
  ...(bundle.oneTimePreKey ? { opk_b64: b64(bundle.oneTimePreKey.key) } : {}),
});

export const inboxReply = (message: InitialMessageRecord) => reply({
  from_user: message.sender,
  ik_b64: b64(message.identityKey),
  ek_b64: b64(message.ephemeralKey),
  opk_id: message.oneTimePreKeyId,
  ciphertext_b64: b64(message.ciphertext),
  ad_b64: b64(message.associatedData),
  nonce_b64: b64(message.nonce),
});

export const chatMessagesReply = (messages: { ciphertext: Uint8Array; nonce: Uint8Array }[]) =>
  reply(messages.map((m) => ({ ciphertext_b64: b64(m.ciphertext), nonce_b64: b64(m.nonce) })));
