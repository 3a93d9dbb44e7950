import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  constantTimeEqual, encodeBase64url, generateKeyPair, type KeyPair, ProtocolError, utf8, wireV2, xeddsaSign,
} from '@x3dh-iot/protocol';
import type { IncomingMessage, IncomingSession } from '../device.js';
import type { DeviceState, SignedPreKey } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { KeyStore } from '../key_store.js';
import { V2Client, type V2ClientOptions, V2RequestError } from './v2_client.js';
import type { V2Link, V2LinkFactory } from './v2_link.js';
import type { OutgoingMessage, RefusedMessage, V2Session } from './v2_state.js';

const DAY_MS = 24 * 3600 * 1000;
/** Mailbox ids remembered after handling them; a redelivery comes long before this many newer messages. */
const HANDLED_IDS_KEPT = 1000;
/** Refused messages kept for the user to see (status), newest last. */
const REFUSED_KEPT = 100;
/** Message numbers above the floor remembered per session; older gaps are given up. */
const RECEIVED_NUMBERS_KEPT = 256;
/** Unused one-time prekey private keys kept at most: twice the server's default stock cap. */
const ONE_TIME_PREKEYS_KEPT = 400;

export interface SecureDeviceOptions {
  /** One-time prekeys the device keeps on the server (refilled up to this). */
  oneTimePreKeyTarget?: number;
  /** Refill when the server holds fewer than this (the server pushes `prekeys_low` below its own threshold). */
  oneTimePreKeyLow?: number;
  /** Age at which the signed prekey is replaced (7 days by default). */
  signedPreKeyRotationMs?: number;
  /** How long a replaced signed prekey's private key is kept for delayed initial messages (30 days by default). */
  signedPreKeyGraceMs?: number;
  /** Request timeouts and resends. */
  client?: V2ClientOptions;
  /** Enrolment token used when `registerIdentity` is given none (the operator's `x3dh-server token issue`). */
  enrolmentToken?: string | undefined;
  /** The device's clock for schedules (rotation, grace); tests move it. */
  now?: () => Date;
  /** Called by `close` after the store and the link are closed. */
  onClose?: () => Promise<void> | void;
}

export interface SecureDeviceEvents {
  session: [IncomingSession];
  message: [IncomingMessage];
  /** Something in the background failed (a pushed message refused, a refill); the device goes on. */
  problem: [Error];
  /** Accepted messages were saved as unread texts (`takeUnread` shows them). */
  unread: [];
}

/** A mailbox message that was not accepted; it stays in the mailbox (unacknowledged) until it expires. */
export interface MailboxProblem {
  mailboxId: string;
  peer: string;
  error: DeviceError;
}

export interface SafetyNumberReport {
  peer: string;
  /** 60 digits from this device's identity key and the peer's pinned key (or the directory's, before pinning). */
  safetyNumber: string;
  pinned: boolean;
  /** The directory now holds another key than the pinned one. */
  changed: boolean;
  /** The safety number with the directory's key, when it changed. */
  directorySafetyNumber: string | null;
}

/**
 * A device speaking wire protocol v2 (docs/protocol-v2.md): enrols with a signed request, keeps its
 * one-time prekeys stocked and its signed prekey fresh, pins its peers' identity keys, and reads
 * its mailbox at least once, acknowledging a message only after what it changed is saved.
 *
 * Order of effects: new keys and outgoing envelopes are saved before the request that publishes or
 * sends them; a handshake's session, the deletion of its one-time prekey, the replay record and the
 * received text are saved together, and only then is the mailbox copy acknowledged. On any failure
 * to accept a message nothing is saved and nothing is deleted.
 */
export class SecureDevice extends EventEmitter<SecureDeviceEvents> {
  private readonly target: number;
  private readonly low: number;
  private readonly rotationMs: number;
  private readonly graceMs: number;
  private readonly now: () => Date;
  private updates: Promise<void> = Promise.resolve();
  private exclusiveChain: Promise<unknown> = Promise.resolve();
  private connection: { name: string; link: V2Link; client: V2Client } | null = null;
  private closed = false;

  private constructor(
    private readonly store: KeyStore,
    private state: DeviceState,
    private readonly linkFactory: V2LinkFactory,
    private readonly options: SecureDeviceOptions,
  ) {
    super();
    this.target = options.oneTimePreKeyTarget ?? 50;
    this.low = options.oneTimePreKeyLow ?? 10;
    this.rotationMs = options.signedPreKeyRotationMs ?? 7 * DAY_MS;
    this.graceMs = options.signedPreKeyGraceMs ?? 30 * DAY_MS;
    this.now = options.now ?? (() => new Date());
  }

  static async open(store: KeyStore, linkFactory: V2LinkFactory, options: SecureDeviceOptions = {}): Promise<SecureDevice> {
    return new SecureDevice(store, await store.load(), linkFactory, options);
  }

  get username(): string | null {
    return this.state.username;
  }

  get identityKey(): Uint8Array | null {
    return this.state.identity?.publicKey ?? null;
  }

  /** Peers this device has a v2 session with. */
  get peers(): string[] {
    return [...this.state.v2.sessions.keys()];
  }

  get preKeyIds(): { signed: number[]; oneTime: number[] } {
    return {
      signed: this.state.signedPreKeys.map((spk) => spk.id),
      oneTime: [...this.state.oneTimePreKeys.keys()].sort((a, b) => a - b),
    };
  }

  /** A snapshot of what the key store holds for v2, for status displays (no key material). */
  get localStatus() {
    const current = this.state.signedPreKeys.at(-1);
    const now = this.now().getTime();
    return {
      username: this.state.username,
      identityKey: this.state.identity ? encodeBase64url(this.state.identity.publicKey) : null,
      signedPreKey: current ? { id: current.id, createdAt: current.createdAt.toISOString(), ageMs: now - current.createdAt.getTime() } : null,
      signedPreKeyIdsHeld: this.state.signedPreKeys.map((spk) => spk.id),
      oneTimePreKeysHeld: this.state.oneTimePreKeys.size,
      sessions: [...this.state.v2.sessions.values()].map((s) => ({ peer: s.peer, role: s.role, sent: s.sendNext, establishedAt: s.establishedAt.toISOString() })),
      pinned: [...this.state.v2.pins.keys()],
      outbox: this.state.v2.outbox.length,
      unread: this.state.v2.unread.length,
      refused: this.state.v2.refused.map((r) => ({ ...r, refusedAt: r.refusedAt.toISOString() })),
    };
  }

  /** v2 names are the certificate's common name and a topic level, so only `A-Z a-z 0-9 . _ -`, 1 to 64. */
  async setUsername(username: string): Promise<void> {
    if (!wireV2.isDeviceName(username)) throw new DeviceError('INVALID_INPUT', 'username must be 1 to 64 of A-Z a-z 0-9 . _ - (wire protocol v2)');
    await this.update((state) => { state.username = username; });
  }

  /** Forgets the username only; keys, pins and sessions stay. */
  async resetUsername(): Promise<void> {
    await this.update((state) => { state.username = null; });
  }

  /**
   * Enrols the identity key (created and saved first, on first use) under the username. A token is
   * needed unless the server runs open enrolment; enrolling again with the same key is harmless.
   */
  async registerIdentity(options: { token?: string | undefined } = {}): Promise<{ username: string; renamedFrom: null; newIdentity: boolean }> {
    const name = this.requireUsername();
    const newIdentity = this.state.identity === null;
    if (newIdentity) await this.update((state) => { state.identity = generateKeyPair(); });
    const identity = this.requireIdentity();
    const token = options.token ?? this.options.enrolmentToken;
    const result = await this.client().call(identity, 'enroll', {
      identity_key: encodeBase64url(identity.publicKey), ...(token === undefined ? {} : { token }),
    });
    if (result.device !== name || !constantTimeEqual(result.identity_key, identity.publicKey)) {
      throw new DeviceError('BAD_RESPONSE', `the server enrolled ${result.device} with another key than requested`);
    }
    return { username: name, renamedFrom: null, newIdentity };
  }

  /**
   * Uploads a new signed prekey (the one it replaces is kept for its grace period) and `count` new
   * one-time prekeys, added to the server's stock (by default enough to reach the target stock).
   * Ids continue above everything this device and the server have seen, so none is ever reused.
   */
  async publishBundle(count?: number): Promise<{ signedPreKeyId: number; oneTimePreKeyIds: number[] }> {
    if (count !== undefined && (!Number.isInteger(count) || count < 0 || count > 1000)) {
      throw new DeviceError('INVALID_INPUT', 'the number of one-time prekeys must be a whole number from 0 to 1000');
    }
    const status = await this.call('prekeys.status', {});
    return this.upload(status, count ?? Math.max(0, this.target - status.one_time_prekeys), true);
  }

  /**
   * Scheduled upkeep: rotates the signed prekey when it is due (or missing on the server), refills
   * one-time prekeys when the server's stock is low, forgets signed prekeys past their grace period
   * (with their replay records) and resends saved messages. Does nothing before the first publish.
   */
  async maintain(): Promise<{ rotated: boolean; uploadedOneTimePreKeys: number }> {
    await this.flushOutbox();
    await this.update((state) => this.prune(state));
    if (this.state.signedPreKeys.length === 0) return { rotated: false, uploadedOneTimePreKeys: 0 };
    const status = await this.call('prekeys.status', {});
    const refill = status.one_time_prekeys < this.low ? this.target - status.one_time_prekeys : 0;
    const rotate = this.signedPreKeyDue(status);
    if (!rotate && refill === 0) return { rotated: false, uploadedOneTimePreKeys: 0 };
    const uploaded = await this.upload(status, refill, rotate);
    return { rotated: rotate, uploadedOneTimePreKeys: uploaded.oneTimePreKeyIds.length };
  }

  listUsers(): Promise<string[]> {
    return this.call('directory.list', {}).then((result) => result.devices);
  }

  /**
   * X3DH as initiator: fetches the peer's bundle, checks the peer's identity key against the pinned
   * one (pinning it on first contact), aborts on a bad signed-prekey signature or an all-zero DH,
   * and sends the first text as an `x3dh.initial` message. The session and the envelope (with its
   * client message id) are saved before sending, so a resend is queued once.
   */
  async startSession(peer: string, text: string): Promise<{ oneTimePreKeyId: number | null; identityChanged: false }> {
    const identity = this.requireIdentity();
    checkPeerName(peer);
    await this.flushOutbox();
    const bundle = await this.call('bundle.fetch', { device: peer });
    this.checkPinned(peer, bundle.identity_key);
    let sealed: ReturnType<typeof wireV2.sealInitialEnvelope>;
    try {
      sealed = wireV2.sealInitialEnvelope(identity, {
        identityKey: bundle.identity_key,
        signedPreKey: bundle.signed_prekey.key,
        signedPreKeySignature: bundle.signed_prekey.signature,
        signedPreKeyId: bundle.signed_prekey.id,
        oneTimePreKey: bundle.one_time_prekey && { id: bundle.one_time_prekey.id, publicKey: bundle.one_time_prekey.key },
      }, utf8.encode(text));
    } catch (error) {
      if (error instanceof ProtocolError) throw new DeviceError('SECURITY', `cannot start a session with ${peer}: ${error.message}`, { cause: error });
      throw error;
    }
    const outgoing = this.outgoing(peer, 'x3dh.initial', wireV2.encodeInitialEnvelope(sealed.envelope));
    await this.update((state) => {
      this.checkPinned(peer, bundle.identity_key, state);
      if (!state.v2.pins.has(peer)) state.v2.pins.set(peer, { identityKey: bundle.identity_key, pinnedAt: this.now() });
      state.v2.sessions.set(peer, newSession(peer, sealed.sharedKey, bundle.identity_key, 'initiator', this.now()));
      state.v2.outbox.push(outgoing);
    });
    await this.deliver(outgoing);
    return { oneTimePreKeyId: sealed.envelope.oneTimePreKeyId, identityChanged: false };
  }

  /** Sends a `session` message: its number is taken and the envelope saved before it goes out. */
  async send(peer: string, text: string): Promise<void> {
    const identity = this.requireIdentity();
    await this.flushOutbox();
    const session = this.requireSession(peer);
    const n = session.sendNext;
    const envelope = wireV2.sealSessionEnvelope(session.sharedKey, identity.publicKey, session.peerIdentityKey, n, utf8.encode(text));
    const outgoing = this.outgoing(peer, 'session', envelope);
    await this.update((state) => {
      const current = state.v2.sessions.get(peer);
      if (!current || current.sendNext !== n || !constantTimeEqual(current.sharedKey, session.sharedKey)) {
        throw new DeviceError('NOT_READY', `the session with ${peer} changed meanwhile: send again`);
      }
      current.sendNext = n + 1;
      state.v2.outbox.push(outgoing);
    });
    await this.deliver(outgoing);
  }

  /**
   * Reads the mailbox and accepts what it holds: handshakes and messages become unread texts, saved
   * before the mailbox copies are acknowledged. Messages that cannot be accepted stay in the mailbox
   * and are reported.
   */
  async syncMailbox(): Promise<{ accepted: number; problems: MailboxProblem[] }> {
    return this.exclusive(async () => {
      const report = { accepted: 0, problems: [] as MailboxProblem[] };
      let after: string | undefined;
      for (;;) {
        const { messages } = await this.call('mailbox.fetch', { ...(after === undefined ? {} : { after }), limit: wireV2.MAX_MAILBOX_FETCH });
        await this.handleMessages(messages, report);
        if (messages.length < wireV2.MAX_MAILBOX_FETCH) return report;
        after = messages.at(-1)!.id;
      }
    });
  }

  /**
   * The firmware's Check Inbox: reads the mailbox, then shows the oldest handshake not shown yet.
   * With none to show, a refused one is reported as the error it met (a changed identity key first).
   */
  async checkInbox(): Promise<IncomingSession | null> {
    const { session, problems } = await this.inbox();
    if (session === null && problems.length > 0) {
      throw (problems.find((p) => p.error.kind === 'IDENTITY_CHANGED') ?? problems[0]!).error;
    }
    return session;
  }

  /** Reads the mailbox and shows the oldest handshake not shown yet, with what was refused on the way. */
  async inbox(): Promise<{ session: IncomingSession | null; problems: MailboxProblem[] }> {
    const { problems } = await this.syncMailbox();
    await this.maintainQuietly();
    return { session: await this.takeHandshake(), problems };
  }

  /** The oldest unread handshake, marked as shown; null when there is none. */
  async takeHandshake(): Promise<IncomingSession | null> {
    const first = this.state.v2.unread.find((u) => u.kind === 'handshake');
    if (!first) return null;
    await this.update((state) => { state.v2.unread = state.v2.unread.filter((u) => u.mailboxId !== first.mailboxId); });
    const session: IncomingSession = { peer: first.peer, text: first.text, identityChanged: false };
    this.emit('session', session);
    return session;
  }

  /** Reads the mailbox and shows every unread text from `peer`, oldest first; refused ones are counted. */
  async read(peer: string): Promise<{ messages: string[]; undecryptable: number; problems: MailboxProblem[] }> {
    const { problems } = await this.syncMailbox();
    await this.maintainQuietly();
    const texts = this.state.v2.unread.filter((u) => u.peer === peer);
    // Texts received before a session ended (an identity rotation) are still shown.
    if (texts.length === 0) this.requireSession(peer);
    if (texts.length > 0) {
      const shown = new Set(texts.map((u) => u.mailboxId));
      await this.update((state) => { state.v2.unread = state.v2.unread.filter((u) => !shown.has(u.mailboxId)); });
    }
    for (const u of texts) this.emit('message', { peer, text: u.text });
    const fromPeer = problems.filter((p) => p.peer === peer);
    return { messages: texts.map((u) => u.text), undecryptable: fromPeer.length, problems: fromPeer };
  }

  /** Every unread text, handshakes and messages in arrival order, marked as shown (for watchers). */
  async takeUnread(): Promise<{ kind: 'handshake' | 'message'; peer: string; text: string }[]> {
    const unread = this.state.v2.unread;
    if (unread.length === 0) return [];
    const shown = new Set(unread.map((u) => u.mailboxId));
    await this.update((state) => { state.v2.unread = state.v2.unread.filter((u) => !shown.has(u.mailboxId)); });
    for (const u of unread) {
      if (u.kind === 'handshake') this.emit('session', { peer: u.peer, text: u.text, identityChanged: false });
      else this.emit('message', { peer: u.peer, text: u.text });
    }
    return unread.map(({ kind, peer, text }) => ({ kind, peer, text }));
  }

  /** The safety number with a peer, from the pinned key, and whether the directory now says otherwise. */
  async safetyNumber(peer: string): Promise<SafetyNumberReport> {
    const identity = this.requireIdentity();
    const me = this.requireUsername();
    checkPeerName(peer);
    const pin = this.state.v2.pins.get(peer);
    const { identity_key: directoryKey } = await this.call('directory.lookup', { device: peer });
    const number = (key: Uint8Array) => wireV2.safetyNumber({ name: me, identityKey: identity.publicKey }, { name: peer, identityKey: key });
    const changed = pin !== undefined && !constantTimeEqual(pin.identityKey, directoryKey);
    return {
      peer, safetyNumber: number(pin?.identityKey ?? directoryKey), pinned: pin !== undefined, changed,
      directorySafetyNumber: changed ? number(directoryKey) : null,
    };
  }

  /**
   * Accepts the identity key the directory now holds for `peer`, replacing the pinned one: the
   * user's explicit decision after comparing safety numbers. Messages refused because of the old
   * pin are still in the mailbox and are accepted by the next read.
   */
  async trust(peer: string): Promise<{ peer: string; previousIdentityKey: string | null; identityKey: string; safetyNumber: string }> {
    const identity = this.requireIdentity();
    const me = this.requireUsername();
    checkPeerName(peer);
    const { identity_key: key } = await this.call('directory.lookup', { device: peer });
    const previous = this.state.v2.pins.get(peer)?.identityKey ?? null;
    await this.update((state) => { state.v2.pins.set(peer, { identityKey: key, pinnedAt: this.now() }); });
    return {
      peer, previousIdentityKey: previous && encodeBase64url(previous), identityKey: encodeBase64url(key),
      safetyNumber: wireV2.safetyNumber({ name: me, identityKey: identity.publicKey }, { name: peer, identityKey: key }),
    };
  }

  /** The server's view of this device's prekeys. */
  preKeyStatus(): Promise<wireV2.RequestResult<'prekeys.status'>> {
    return this.call('prekeys.status', {});
  }

  /**
   * Deletes this device's prekeys and mailbox on the server; the name stays reserved for this
   * identity key, which is kept so that enrolling again restores the device.
   */
  async deleteDevice(): Promise<void> {
    await this.call('device.delete', {});
    await this.update((state) => {
      state.signedPreKeys = [];
      state.oneTimePreKeys.clear();
      state.v2.acceptedHandshakes = [];
    });
  }

  /**
   * Replaces this device's identity key (docs/protocol-v2.md section 6.2): the request is signed by
   * the old key and carries the new key's proof of possession. The new key is saved as pending
   * before the request, so a lost answer is retried with the same key; if the old key is refused
   * because the server already holds the new one, the pending key is adopted. The server deletes
   * the prekeys the old key signed, so this device deletes them too, drops its sessions (their
   * associated data names the old key) and publishes new prekeys. Peers see a changed key and must
   * accept it (`trust`) before they talk to this device again.
   */
  async rotateIdentity(): Promise<{ identityKey: string; signedPreKeyId: number; oneTimePreKeyIds: number[] }> {
    const name = this.requireUsername();
    const old = this.requireIdentity();
    if (this.state.v2.pendingIdentity === null) await this.update((state) => { state.v2.pendingIdentity = generateKeyPair(); });
    const pending = this.state.v2.pendingIdentity!;
    try {
      await this.client().call(old, 'identity.rotate', {
        new_identity_key: encodeBase64url(pending.publicKey),
        proof: encodeBase64url(wireV2.signRotationProof(pending.privateKey, name, old.publicKey)),
      });
    } catch (error) {
      if (!(error instanceof V2RequestError && error.code === 'bad_signature')) throw error;
      await this.client().call(pending, 'prekeys.status', {}); // throws unless the server holds the pending key
    }
    await this.update((state) => {
      state.identity = pending;
      state.v2.pendingIdentity = null;
      state.signedPreKeys = [];
      state.oneTimePreKeys.clear();
      state.v2.acceptedHandshakes = [];
      state.v2.sessions.clear();
      state.v2.outbox = [];
    });
    const published = await this.publishBundle();
    return { identityKey: encodeBase64url(pending.publicKey), ...published };
  }

  /**
   * Takes pushes and reconnections from the link: a pushed message is accepted at once (the
   * mailbox stays authoritative), `prekeys_low` refills, and a reconnection reads the mailbox for
   * pushes missed meanwhile. Failures are emitted as `problem`.
   */
  listen(): void {
    this.link().listen({
      push: (payload) => void this.handlePush(payload),
      connected: () => void this.background(() => this.syncMailbox()),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.exclusiveChain.catch(() => {});
    await this.updates;
    await this.store.close();
    await this.connection?.link.close();
    await this.options.onClose?.();
  }

  private async handlePush(payload: Buffer): Promise<void> {
    if (this.closed) return;
    const parsed = wireV2.parsePayload(wireV2.pushSchema, payload);
    if (!parsed.ok) {
      this.emit('problem', new DeviceError('BAD_RESPONSE', `malformed push from the server: ${parsed.error}`));
      return;
    }
    const push = parsed.value;
    if (push.type === 'message') {
      await this.background(() => this.exclusive(async () => {
        const report = { accepted: 0, problems: [] as MailboxProblem[] };
        await this.handleMessages([push.message], report);
        for (const problem of report.problems) this.emit('problem', problem.error);
      }));
    } else {
      await this.background(() => this.maintain());
    }
  }

  private async background(work: () => Promise<unknown>): Promise<void> {
    if (this.closed) return;
    try {
      await work();
    } catch (error) {
      this.emit('problem', error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Upkeep after reading, whose failure must not hide what was read. */
  private async maintainQuietly(): Promise<void> {
    await this.background(() => this.maintain());
  }

  private async handleMessages(messages: wireV2.MailboxMessage[], report: { accepted: number; problems: MailboxProblem[] }): Promise<void> {
    const acknowledge: string[] = [];
    const refused: RefusedMessage[] = [];
    for (const message of messages) {
      if (this.state.v2.handledMailboxIds.includes(message.id)) {
        // Accepted and saved before; its acknowledgement was lost. Drop it and acknowledge again.
        acknowledge.push(message.id);
        continue;
      }
      try {
        if (message.type === 'x3dh.initial') await this.acceptInitial(message);
        else await this.acceptSessionMessage(message);
        report.accepted += 1;
        acknowledge.push(message.id);
      } catch (error) {
        // Without the server (a directory lookup that got no answer) the batch stops; it is read again later.
        if (!(error instanceof DeviceError) || error.kind === 'UNREACHABLE') throw error;
        report.problems.push({ mailboxId: message.id, peer: message.from, error });
        // A message that fails its checks (SECURITY) fails them at every reading: it is recorded and
        // acknowledged, so that junk cannot fill the mailbox. Others wait in the mailbox: no session
        // yet (NOT_READY: its handshake may come later), or a changed key the user has not accepted yet.
        if (error.kind === 'SECURITY') refused.push({ mailboxId: message.id, peer: message.from, reason: error.message, refusedAt: this.now() });
      }
    }
    if (refused.length > 0) {
      await this.update((state) => {
        for (const refusal of refused) {
          state.v2.refused.push(refusal);
          markHandled(state, refusal.mailboxId);
        }
        if (state.v2.refused.length > REFUSED_KEPT) state.v2.refused.splice(0, state.v2.refused.length - REFUSED_KEPT);
      });
      acknowledge.push(...refused.map((refusal) => refusal.mailboxId));
    }
    if (report.accepted > 0) this.emit('unread');
    for (let i = 0; i < acknowledge.length; i += wireV2.MAX_ACK_IDS) {
      await this.call('mailbox.ack', { ids: acknowledge.slice(i, i + wireV2.MAX_ACK_IDS) });
    }
  }

  /**
   * X3DH as responder (section 3.4 of the X3DH specification, section 7.1 of the v2 document).
   * Every check runs on a copy of the state inside one update, so a failure saves nothing and
   * deletes nothing; success saves the session, the pin, the replay record and the text, and
   * deletes the one-time prekey, in one write.
   */
  private async acceptInitial(message: wireV2.MailboxMessage): Promise<void> {
    const identity = this.requireIdentity();
    const from = message.from;
    const refused = (why: string) => new DeviceError('SECURITY', `initial message ${message.id} from ${from} refused: ${why}`);
    const decoded = wireV2.decodeInitialEnvelope(message.envelope);
    if (!decoded.ok) throw refused(`malformed envelope (${decoded.error})`);
    const envelope = decoded.value;
    if (!this.state.v2.pins.has(from)) {
      const { identity_key: directoryKey } = await this.call('directory.lookup', { device: from });
      if (!constantTimeEqual(directoryKey, envelope.identityKey)) {
        throw refused(`its identity key is not the one the directory holds for ${from}`);
      }
    }
    let text = '';
    await this.update((state) => {
      this.checkPinned(from, envelope.identityKey, state);
      const spk = state.signedPreKeys.find((k) => k.id === envelope.signedPreKeyId);
      if (!spk) throw refused(`it names signed prekey ${envelope.signedPreKeyId}, which this device does not hold (expired or never published)`);
      const opkId = envelope.oneTimePreKeyId;
      const opk = opkId === null ? undefined : state.oneTimePreKeys.get(opkId);
      if (opkId !== null && !opk) throw refused(`it names one-time prekey ${opkId}, which this device does not hold (used already or never published)`);
      if (state.v2.acceptedHandshakes.some((h) => h.signedPreKeyId === spk.id && constantTimeEqual(h.ephemeralKey, envelope.ephemeralKey))) {
        throw refused('it is a replay of a handshake accepted before');
      }
      let opened: { sharedKey: Uint8Array; plaintext: Uint8Array };
      try {
        opened = wireV2.openInitialEnvelope({ identity, signedPreKey: spk.keyPair.privateKey, oneTimePreKey: opk?.privateKey }, envelope);
      } catch (error) {
        if (error instanceof ProtocolError) throw refused(`it cannot be decrypted (${error.message})`);
        throw error;
      }
      text = textDecoder.decode(opened.plaintext);
      const now = this.now();
      if (!state.v2.pins.has(from)) state.v2.pins.set(from, { identityKey: envelope.identityKey, pinnedAt: now });
      if (!crossedHandshake(state, from)) state.v2.sessions.set(from, newSession(from, opened.sharedKey, envelope.identityKey, 'responder', now));
      if (opkId !== null) state.oneTimePreKeys.delete(opkId);
      state.v2.acceptedHandshakes.push({ signedPreKeyId: spk.id, ephemeralKey: envelope.ephemeralKey });
      markHandled(state, message.id);
      state.v2.unread.push({ mailboxId: message.id, peer: from, kind: 'handshake', text, receivedAt: now });
    });
  }

  /** A `session` message: opened under the session's key, refused when its number was accepted before. */
  private async acceptSessionMessage(message: wireV2.MailboxMessage): Promise<void> {
    const identity = this.requireIdentity();
    const from = message.from;
    await this.update((state) => {
      const session = state.v2.sessions.get(from);
      if (!session) throw new DeviceError('NOT_READY', `message ${message.id} from ${from}: no session with ${from} (its handshake was refused or not read yet)`);
      let opened: { n: number; plaintext: Uint8Array };
      try {
        opened = wireV2.openSessionEnvelope(session.sharedKey, session.peerIdentityKey, identity.publicKey, message.envelope);
      } catch (error) {
        if (error instanceof ProtocolError) throw new DeviceError('SECURITY', `message ${message.id} from ${from} cannot be decrypted (${error.message})`, { cause: error });
        throw error;
      }
      if (opened.n < session.receivedFloor || session.receivedAbove.includes(opened.n)) {
        throw new DeviceError('SECURITY', `message ${message.id} from ${from} refused: message number ${opened.n} was accepted before (a replay)`);
      }
      recordReceived(session, opened.n);
      markHandled(state, message.id);
      state.v2.unread.push({ mailboxId: message.id, peer: from, kind: 'message', text: textDecoder.decode(opened.plaintext), receivedAt: this.now() });
    });
  }

  /**
   * Sends the saved messages in order. A refusal that cannot change (the recipient was deleted) drops
   * that message and is reported as a problem, so it does not stand in the way of the next send; a
   * passing failure stops the flush, keeping the order.
   */
  private async flushOutbox(): Promise<void> {
    for (const outgoing of [...this.state.v2.outbox]) {
      try {
        await this.deliver(outgoing);
      } catch (error) {
        if (this.state.v2.outbox.some((m) => sameId(m, outgoing))) throw error;
        this.emit('problem', error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  private async deliver(outgoing: OutgoingMessage): Promise<void> {
    try {
      await this.call('message.send', {
        to: outgoing.to, id: encodeBase64url(outgoing.id), type: outgoing.type, envelope: encodeBase64url(outgoing.envelope),
      });
    } catch (error) {
      const lasting = error instanceof V2RequestError && !['mailbox_full', 'rate_limited', 'unavailable', 'internal'].includes(error.code);
      if (lasting) await this.update((state) => { state.v2.outbox = state.v2.outbox.filter((m) => m !== outgoing && !sameId(m, outgoing)); });
      if (error instanceof DeviceError && !lasting) {
        throw new DeviceError(error.kind, `${error.message}; the message to ${outgoing.to} is saved and will be sent again with the next send or read`, { cause: error });
      }
      throw error;
    }
    await this.update((state) => { state.v2.outbox = state.v2.outbox.filter((m) => !sameId(m, outgoing)); });
  }

  private outgoing(to: string, type: OutgoingMessage['type'], envelope: Uint8Array): OutgoingMessage {
    return { id: randomBytes(wireV2.MESSAGE_ID_BYTES), to, type, envelope, createdAt: this.now() };
  }

  /**
   * Creates the keys first and saves them, then uploads: a one-time prekey the server hands out is
   * always one this device can open. The signed prekey goes with the first batch.
   */
  private async upload(
    status: wireV2.RequestResult<'prekeys.status'>, count: number, newSignedPreKey: boolean,
  ): Promise<{ signedPreKeyId: number; oneTimePreKeyIds: number[] }> {
    const identity = this.requireIdentity();
    let signedPreKey: SignedPreKey | undefined;
    let oneTimePreKeys: { id: number; keyPair: KeyPair }[] = [];
    await this.update((state) => {
      const now = this.now();
      if (newSignedPreKey) {
        const id = Math.max(state.nextSignedPreKeyId, (status.max_signed_prekey_id ?? status.signed_prekey_id ?? 0) + 1);
        const keyPair = generateKeyPair();
        signedPreKey = { id, keyPair, signature: xeddsaSign(identity.privateKey, keyPair.publicKey), createdAt: now };
        state.signedPreKeys.push(signedPreKey);
        state.nextSignedPreKeyId = id + 1;
      }
      const first = Math.max(state.nextOneTimePreKeyId, (status.max_one_time_prekey_id ?? -1) + 1);
      oneTimePreKeys = Array.from({ length: count }, (_, i) => ({ id: first + i, keyPair: generateKeyPair() }));
      for (const opk of oneTimePreKeys) state.oneTimePreKeys.set(opk.id, opk.keyPair);
      state.nextOneTimePreKeyId = first + count;
      this.prune(state);
    });
    const batches: { id: number; key: string }[][] = [];
    for (let i = 0; i < oneTimePreKeys.length; i += wireV2.MAX_ONE_TIME_PREKEYS_PER_UPLOAD) {
      batches.push(oneTimePreKeys.slice(i, i + wireV2.MAX_ONE_TIME_PREKEYS_PER_UPLOAD).map((opk) => ({ id: opk.id, key: encodeBase64url(opk.keyPair.publicKey) })));
    }
    if (batches.length === 0) batches.push([]);
    let signedPreKeyId = status.signed_prekey_id;
    for (const [i, batch] of batches.entries()) {
      const opks = batch.length > 0 ? { one_time_prekeys: batch } : {};
      if (i === 0 && signedPreKey) {
        signedPreKeyId = await this.uploadSignedPreKey(signedPreKey, opks);
      } else if (batch.length > 0) {
        signedPreKeyId = (await this.call('prekeys.upload', opks)).signed_prekey_id;
      }
    }
    return { signedPreKeyId: signedPreKeyId ?? 0, oneTimePreKeyIds: oneTimePreKeys.map((opk) => opk.id) };
  }

  private async uploadSignedPreKey(spk: SignedPreKey, opks: { one_time_prekeys?: { id: number; key: string }[] }): Promise<number | null> {
    const result = await this.call('prekeys.upload', {
      signed_prekey: { id: spk.id, key: encodeBase64url(spk.keyPair.publicKey), signature: encodeBase64url(spk.signature) }, ...opks,
    });
    return result.signed_prekey_id;
  }

  private signedPreKeyDue(status: wireV2.RequestResult<'prekeys.status'>): boolean {
    const current = this.state.signedPreKeys.at(-1);
    if (!current || status.signed_prekey_id !== current.id) return true;
    // The server holds another key or signature under this id (written behind this device's back): publish anew.
    const held = status.signed_prekey_digest;
    const own = wireV2.signedPreKeyDigest({ id: current.id, key: current.keyPair.publicKey, signature: current.signature });
    if (held !== undefined && held !== own) return true;
    return this.now().getTime() - current.createdAt.getTime() >= this.rotationMs;
  }

  /**
   * Deletes signed prekeys replaced longer ago than the grace period (their successor's creation
   * time is when they were replaced) with their replay records, which are useless without them, and
   * the oldest one-time prekeys beyond a bound.
   */
  private prune(state: DeviceState): void {
    const now = this.now().getTime();
    const spks = state.signedPreKeys;
    state.signedPreKeys = spks.filter((_, i) => i === spks.length - 1 || now - spks[i + 1]!.createdAt.getTime() < this.graceMs);
    const kept = new Set(state.signedPreKeys.map((spk) => spk.id));
    state.v2.acceptedHandshakes = state.v2.acceptedHandshakes.filter((h) => kept.has(h.signedPreKeyId));
    const opkIds = [...state.oneTimePreKeys.keys()].sort((a, b) => a - b);
    for (const id of opkIds.slice(0, Math.max(0, opkIds.length - ONE_TIME_PREKEYS_KEPT))) state.oneTimePreKeys.delete(id);
  }

  /** Throws IDENTITY_CHANGED when `identityKey` is not the key pinned for `peer`. */
  private checkPinned(peer: string, identityKey: Uint8Array, state: DeviceState = this.state): void {
    const pin = state.v2.pins.get(peer);
    if (pin && !constantTimeEqual(pin.identityKey, identityKey)) {
      throw new DeviceError('IDENTITY_CHANGED',
        `WARNING: ${peer}'s identity key has CHANGED since it was pinned on ${pin.pinnedAt.toISOString()}. ` +
        `This may be an attack. Refused. Compare the safety number with ${peer} in person (safety-number ${peer}), ` +
        `and only then accept the new key (trust ${peer}).`);
    }
  }

  private call<O extends wireV2.V2Operation>(operation: O, body: wireV2.RequestBodyInput<O>): Promise<wireV2.RequestResult<O>> {
    return this.client().call(this.requireIdentity(), operation, body);
  }

  private client(): V2Client {
    return this.connect().client;
  }

  private link(): V2Link {
    return this.connect().link;
  }

  /** The link and client of the current name; a changed name (after a reset) gets a new link. */
  private connect(): { link: V2Link; client: V2Client } {
    const name = this.requireUsername();
    if (this.connection?.name !== name) {
      void this.connection?.link.close();
      const link = this.linkFactory(name);
      this.connection = { name, link, client: new V2Client(link, name, this.options.client) };
    }
    return this.connection;
  }

  /** Runs mailbox work one batch at a time, so a push and a read never handle the same message twice. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.exclusiveChain.catch(() => {}).then(work);
    this.exclusiveChain = run;
    return run;
  }

  /** Applies a change to a copy of the state, saves it, and only then makes it the current state. */
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

  private requireUsername(): string {
    if (this.state.username === null) throw new DeviceError('NOT_READY', 'no username set');
    return this.state.username;
  }

  private requireIdentity(): KeyPair {
    if (this.state.identity === null) throw new DeviceError('NOT_READY', 'no identity key: Register Identity first');
    return this.state.identity;
  }

  private requireSession(peer: string): V2Session {
    const session = this.state.v2.sessions.get(peer);
    if (!session) throw new DeviceError('NOT_READY', `no shared key with ${peer}: Start Chat or Check Inbox first`);
    return session;
  }
}

function newSession(peer: string, sharedKey: Uint8Array, peerIdentityKey: Uint8Array, role: V2Session['role'], now: Date): V2Session {
  return { peer, sharedKey, peerIdentityKey, role, establishedAt: now, sendNext: 0, receivedFloor: 0, receivedAbove: [] };
}

/**
 * Both sides started a chat before reading the other's handshake: each would adopt the other's key
 * and they would end up with different ones. Both keep the session that the device with the smaller
 * name initiated. A session that has received a message is not a crossing but a live one, and a new
 * handshake then replaces it (the peer started again).
 */
function crossedHandshake(state: DeviceState, from: string): boolean {
  const existing = state.v2.sessions.get(from);
  const silent = existing?.role === 'initiator' && existing.receivedFloor === 0 && existing.receivedAbove.length === 0;
  return silent && state.username !== null && state.username < from;
}

/** Records n as accepted: the floor moves up over consecutive numbers; a long gap is given up. */
function recordReceived(session: V2Session, n: number): void {
  const above = [...session.receivedAbove, n].sort((a, b) => a - b);
  while (above[0] === session.receivedFloor) {
    above.shift();
    session.receivedFloor += 1;
  }
  if (above.length > RECEIVED_NUMBERS_KEPT) {
    const dropped = above.splice(0, above.length - RECEIVED_NUMBERS_KEPT);
    session.receivedFloor = dropped.at(-1)! + 1;
  }
  session.receivedAbove = above;
}

function markHandled(state: DeviceState, mailboxId: string): void {
  state.v2.handledMailboxIds.push(mailboxId);
  if (state.v2.handledMailboxIds.length > HANDLED_IDS_KEPT) state.v2.handledMailboxIds.splice(0, state.v2.handledMailboxIds.length - HANDLED_IDS_KEPT);
}

const sameId = (a: OutgoingMessage, b: OutgoingMessage) => constantTimeEqual(a.id, b.id);

function checkPeerName(peer: string): void {
  if (!wireV2.isDeviceName(peer)) throw new DeviceError('INVALID_INPUT', `peer name ${JSON.stringify(peer)} is not a v2 device name (1 to 64 of A-Z a-z 0-9 . _ -)`);
}

/** Lenient on purpose: a peer's bad bytes show as replacement characters rather than lose the message. */
const textDecoder = new TextDecoder('utf-8');
