import type { InitialMessage, PreKeyBundle } from '@x3dh-iot/protocol';

/**
 * What a device asks of the key server, in protocol terms rather than wire terms, so a device can
 * speak v1 (`V1Client`) or a later protocol without changing how it keeps and uses its keys.
 */
export interface KeyServerClient {
  users(): Promise<string[]>;
  /** Returns the name the server registered, which the device must adopt. */
  registerIdentity(username: string, identityKey: Uint8Array): Promise<string>;
  registerBundle(username: string, bundle: UploadedBundle): Promise<void>;
  /** Hands out (and so uses up) one of the peer's one-time prekeys. */
  fetchBundle(username: string): Promise<PreKeyBundle>;
  sendInitialMessage(to: string, from: string, message: InitialMessage, associatedData: Uint8Array): Promise<void>;
  /** Takes one pending initial message off the server, or null when there is none. */
  fetchInbox(username: string): Promise<PendingInitialMessage | null>;
  sendChat(from: string, to: string, chat: ChatCiphertext): Promise<void>;
  /** Takes every pending message from `peer` to `me` off the server, oldest first. */
  fetchChat(me: string, peer: string): Promise<ChatCiphertext[]>;
}

export interface UploadedBundle {
  signedPreKey: { id: number; publicKey: Uint8Array; signature: Uint8Array };
  oneTimePreKeys: { id: number; publicKey: Uint8Array }[];
}

export interface PendingInitialMessage {
  from: string;
  message: InitialMessage;
  /** The associated data the message carried (v1 carries it); the responder checks it. */
  carriedAssociatedData?: Uint8Array | undefined;
}

export interface ChatCiphertext {
  ciphertext: Uint8Array;
  nonce: Uint8Array;
}
