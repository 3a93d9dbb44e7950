import { EventEmitter } from 'node:events';
import {
  type KeyPair, aeadDecrypt, aeadEncrypt, constantTimeEqual, createInitialMessage, DecryptionError, generateKeyPair, openInitialMessage,
  ProtocolError, randomAeadNonce, utf8, wireV1, xeddsaSign,
} from '@x3dh-iot/protocol';
import type { DeviceState, Session } from './device_state.js';
import { DeviceError } from './errors.js';
import type { KeyStore } from './key_store.js';
import type { KeyServerClient } from './key_server_client.js';

export interface DeviceOptions {
  /** One-time prekeys per bundle upload; the firmware uploads 5. */
  oneTimePreKeysPerBundle?: number;
  /** How long a replaced signed prekey's private key is kept for delayed initial messages. */
  signedPreKeyGraceMs?: number;
  /** Called by `close` after the store is closed, e.g. to end the MQTT connection. */
  onClose?: () => Promise<void> | void;
}

export interface IncomingSession {
  peer: string;
  text: string;
  /** The peer had a session before with a different identity key: v1 accepts it, a user should know. */
  identityChanged: boolean;
}

export interface IncomingMessage {
  peer: string;
  text: string;
}

export interface DeviceEvents {
  session: [IncomingSession];
  message: [IncomingMessage];
}

const THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000;
/** Bounds on what old publishes leave behind, so the store stays small. */
const MAX_SIGNED_PREKEYS_KEPT = 10;
const MAX_ONE_TIME_PREKEYS_KEPT = 100;

/**
 * A device: the firmware's seven operations, with its keys in a KeyStore, speaking to the key
 * server through a KeyServerClient (wire v1 today).
 * Every change of state is saved before the request that depends on it goes out (a new identity key
 * before registering it, new prekeys before publishing them, a session before its initial message),
 * and a used one-time prekey is deleted in the same save that records the session it opened.
 */
export class Device extends EventEmitter<DeviceEvents> {
  private readonly oneTimePreKeysPerBundle: number;
  private readonly signedPreKeyGraceMs: number;
  private updates: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: KeyStore,
    private state: DeviceState,
    private readonly client: KeyServerClient,
    private readonly options: DeviceOptions,
  ) {
    super();
    this.oneTimePreKeysPerBundle = options.oneTimePreKeysPerBundle ?? 5;
    this.signedPreKeyGraceMs = options.signedPreKeyGraceMs ?? THIRTY_DAYS_MS;
  }

  static async open(store: KeyStore, client: KeyServerClient, options: DeviceOptions = {}): Promise<Device> {
    return new Device(store, await store.load(), client, options);
  }

  get username(): string | null {
    return this.state.username;
  }

  get identityKey(): Uint8Array | null {
    return this.state.identity?.publicKey ?? null;
  }

  /** Peers this device holds a shared key with. */
  get peers(): string[] {
    return [...this.state.sessions.keys()];
  }

  /** Ids of the prekeys whose private keys this device holds. */
  get preKeyIds(): { signed: number[]; oneTime: number[] } {
    return {
      signed: this.state.signedPreKeys.map((spk) => spk.id),
      oneTime: [...this.state.oneTimePreKeys.keys()].sort((a, b) => a - b),
    };
  }

  async setUsername(username: string): Promise<void> {
    const parsed = wireV1.usernameSchema.safeParse(username);
    if (!parsed.success) throw new DeviceError('INVALID_INPUT', `username ${parsed.error.issues[0]!.message}`);
    await this.update((state) => { state.username = username; });
  }

  /** Forgets the username only, as the firmware's reset does; keys and sessions stay. */
  async resetUsername(): Promise<void> {
    await this.update((state) => { state.username = null; });
  }

  /**
   * Sends the identity key, creating it on first use. The server may register another name when
   * this one is taken; the device adopts it.
   */
  async registerIdentity(): Promise<{ username: string; renamedFrom: string | null; newIdentity: boolean }> {
    const requested = this.requireUsername();
    const newIdentity = this.state.identity === null;
    if (newIdentity) await this.update((state) => { state.identity = generateKeyPair(); });
    const registered = await this.client.registerIdentity(requested, this.state.identity!.publicKey);
    if (registered !== requested) await this.update((state) => { state.username = registered; });
    return { username: registered, renamedFrom: registered === requested ? null : requested, newIdentity };
  }

  /** Creates a new signed prekey and `count` one-time prekeys with fresh ids, and uploads them. */
  async publishBundle(count = this.oneTimePreKeysPerBundle): Promise<{ signedPreKeyId: number; oneTimePreKeyIds: number[] }> {
    if (!Number.isInteger(count) || count < 0 || count > wireV1.MAX_V1_ONE_TIME_PREKEYS) {
      throw new DeviceError('INVALID_INPUT', `the number of one-time prekeys must be a whole number from 0 to ${wireV1.MAX_V1_ONE_TIME_PREKEYS}`);
    }
    const username = this.requireUsername();
    const identity = this.requireIdentity();
    const signedPreKey = generateKeyPair();
    const signature = xeddsaSign(identity.privateKey, signedPreKey.publicKey);
    const keyPairs = Array.from({ length: count }, () => generateKeyPair());
    let signedPreKeyId = 0;
    let oneTimePreKeys: { id: number; keyPair: KeyPair }[] = [];
    await this.update((state) => {
      const now = new Date();
      signedPreKeyId = state.nextSignedPreKeyId++;
      oneTimePreKeys = keyPairs.map((keyPair) => ({ id: state.nextOneTimePreKeyId++, keyPair }));
      state.signedPreKeys.push({ id: signedPreKeyId, keyPair: signedPreKey, signature, createdAt: now });
      for (const opk of oneTimePreKeys) state.oneTimePreKeys.set(opk.id, opk.keyPair);
      this.prune(state, now);
    });
    await this.client.registerBundle(username, {
      signedPreKey: { id: signedPreKeyId, publicKey: signedPreKey.publicKey, signature },
      oneTimePreKeys: oneTimePreKeys.map((opk) => ({ id: opk.id, publicKey: opk.keyPair.publicKey })),
    });
    return { signedPreKeyId, oneTimePreKeyIds: oneTimePreKeys.map((opk) => opk.id) };
  }

  listUsers(): Promise<string[]> {
    return this.client.users();
  }

  /** X3DH as initiator: fetch and verify the peer's bundle, derive the shared key, send the first text. */
  async startSession(peer: string, text: string): Promise<{ oneTimePreKeyId: number | null; identityChanged: boolean }> {
    const username = this.requireUsername();
    const identity = this.requireIdentity();
    const bundle = await this.client.fetchBundle(peer);
    let created: ReturnType<typeof createInitialMessage>;
    try {
      created = createInitialMessage(identity, bundle, utf8.encode(text));
    } catch (error) {
      throw securityError(`cannot start a session with ${peer}`, error);
    }
    const identityChanged = this.identityChanged(peer, bundle.identityKey);
    await this.update((state) => {
      state.sessions.set(peer, {
        peer, sharedKey: created.secrets.sharedKey, peerIdentityKey: bundle.identityKey, role: 'initiator', establishedAt: new Date(),
      });
    });
    await this.client.sendInitialMessage(peer, username, created.message, created.secrets.associatedData);
    return { oneTimePreKeyId: created.message.oneTimePreKeyId, identityChanged };
  }

  /**
   * X3DH as responder for one pending initial message, or null when there is none. The associated
   * data the message carries must be the two identity keys. Signed prekeys are tried newest first,
   * since a v1 message does not say which one it used. On failure nothing is saved or deleted.
   */
  async checkInbox(): Promise<IncomingSession | null> {
    const username = this.requireUsername();
    const identity = this.requireIdentity();
    const pending = await this.client.fetchInbox(username);
    if (pending === null) return null;
    const { from, message, carriedAssociatedData } = pending;
    // v1 hands the message out once, so a failure here loses it; the peer has to start again.
    const lost = `the server has discarded it: ask ${from} to start the chat again`;
    const opkId = message.oneTimePreKeyId;
    const oneTimePreKey = opkId === null ? undefined : this.state.oneTimePreKeys.get(opkId);
    if (opkId !== null && oneTimePreKey === undefined) {
      throw new DeviceError('SECURITY', `initial message from ${from} names one-time prekey ${opkId}, which this device does not hold (used already or never published); ${lost}`);
    }
    if (this.state.signedPreKeys.length === 0) throw new DeviceError('NOT_READY', 'no signed prekey: publish a bundle first');
    let opened: ReturnType<typeof openInitialMessage> | undefined;
    let lastError: unknown;
    for (const spk of [...this.state.signedPreKeys].reverse()) {
      try {
        opened = openInitialMessage(
          { identity, signedPreKey: spk.keyPair.privateKey, oneTimePreKey: oneTimePreKey?.privateKey },
          message, { carriedAssociatedData },
        );
        break;
      } catch (error) {
        lastError = error;
        if (!(error instanceof DecryptionError)) break;
      }
    }
    if (opened === undefined) throw securityError(`cannot accept the initial message from ${from} (${lost})`, lastError);
    const { secrets, plaintext } = opened;
    const incoming: IncomingSession = {
      peer: from, text: textDecoder.decode(plaintext), identityChanged: this.identityChanged(from, message.identityKey),
    };
    await this.update((state) => {
      state.sessions.set(from, {
        peer: from, sharedKey: secrets.sharedKey, peerIdentityKey: message.identityKey, role: 'responder', establishedAt: new Date(),
      });
      if (opkId !== null) state.oneTimePreKeys.delete(opkId);
    });
    this.emit('session', incoming);
    return incoming;
  }

  async send(peer: string, text: string): Promise<void> {
    const username = this.requireUsername();
    const session = this.requireSession(peer);
    const nonce = randomAeadNonce();
    const ciphertext = aeadEncrypt(session.sharedKey, nonce, utf8.encode(text));
    await this.client.sendChat(username, peer, { ciphertext, nonce });
  }

  /** Takes the peer's pending messages off the server and opens them; undecryptable ones are counted. */
  async read(peer: string): Promise<{ messages: string[]; undecryptable: number }> {
    const username = this.requireUsername();
    const session = this.requireSession(peer);
    const messages: string[] = [];
    let undecryptable = 0;
    for (const chat of await this.client.fetchChat(username, peer)) {
      try {
        messages.push(textDecoder.decode(aeadDecrypt(session.sharedKey, chat.nonce, chat.ciphertext)));
      } catch {
        undecryptable += 1;
      }
    }
    for (const text of messages) this.emit('message', { peer, text });
    return { messages, undecryptable };
  }

  async close(): Promise<void> {
    await this.store.close();
    await this.options.onClose?.();
  }

  /**
   * Applies a change to a copy of the state, saves it, and only then makes it the current state.
   * Updates run one at a time, so concurrent operations (a watcher beside a user) never save over
   * each other's changes.
   */
  private update(change: (state: DeviceState) => void): Promise<void> {
    const run = this.updates.then(async () => {
      const next = structuredClone(this.state);
      change(next);
      await this.store.save(next);
      this.state = next;
    });
    this.updates = run.catch(() => {});
    return run;
  }

  /**
   * Keeps the current signed prekey, older ones whose successor is younger than the grace period,
   * and the newest unused one-time prekeys, each within a bound.
   */
  private prune(state: DeviceState, now: Date): void {
    const spks = state.signedPreKeys;
    state.signedPreKeys = spks
      .filter((_, i) => i === spks.length - 1 || now.getTime() - spks[i + 1]!.createdAt.getTime() < this.signedPreKeyGraceMs)
      .slice(-MAX_SIGNED_PREKEYS_KEPT);
    const opkIds = [...state.oneTimePreKeys.keys()].sort((a, b) => a - b);
    for (const id of opkIds.slice(0, Math.max(0, opkIds.length - MAX_ONE_TIME_PREKEYS_KEPT))) state.oneTimePreKeys.delete(id);
  }

  private identityChanged(peer: string, identityKey: Uint8Array): boolean {
    const known = this.state.sessions.get(peer);
    return known !== undefined && !constantTimeEqual(known.peerIdentityKey, identityKey);
  }

  private requireUsername(): string {
    if (this.state.username === null) throw new DeviceError('NOT_READY', 'no username set');
    return this.state.username;
  }

  private requireIdentity() {
    if (this.state.identity === null) throw new DeviceError('NOT_READY', 'no identity key: Register Identity first');
    return this.state.identity;
  }

  private requireSession(peer: string): Session {
    const session = this.state.sessions.get(peer);
    if (!session) throw new DeviceError('NOT_READY', `no shared key with ${peer}: Start Chat or Check Inbox first`);
    return session;
  }
}

/** Lenient on purpose: a peer's bad bytes show as replacement characters rather than lose the message. */
const textDecoder = new TextDecoder('utf-8');

function securityError(context: string, error: unknown): Error {
  if (error instanceof ProtocolError) return new DeviceError('SECURITY', `${context}: ${error.message}`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}
