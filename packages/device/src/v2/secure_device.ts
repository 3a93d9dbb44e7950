import { EventEmitter } from 'node:events';
import { activeBackend, constantTimeEqual, encodeBase64url, generateKeyPair, wireV2 } from '@x3dh-iot/protocol';
import type { IncomingMessage, IncomingSession } from '../device.js';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { KeyStore } from '../key_store.js';
import { DeviceCore } from './device_core.js';
import { safetyNumberReport, type SafetyNumberReport } from './fingerprint.js';
import { trustDirectoryKey } from './identity_key_store.js';
import { rotateIdentity } from './identity_rotation.js';
import type { IdentityKey } from './keys.js';
import { MailboxSync, type MailboxProblem, type MailboxReport } from './mailbox_sync.js';
import { Outbox } from './outbox.js';
import { forgetPreKeys, PreKeyMaintenance, type PreKeySchedule } from './prekey_maintenance.js';
import { SessionBuilder } from './session_builder.js';
import { sentCount } from './session_record.js';
import { requireSession, SessionCipher } from './session_cipher.js';
import type { V2ClientOptions } from './v2_client.js';
import type { V2LinkFactory } from './v2_link.js';
import { checkProvisioning, trustMode, type DeviceProvisioning } from './provisioning.js';

export type { MailboxProblem } from './mailbox_sync.js';
export type { SafetyNumberReport } from './fingerprint.js';

export interface SecureDeviceOptions extends PreKeySchedule {
  /** Request timeouts and resends. */
  client?: V2ClientOptions;
  /** Enrolment token used when `registerIdentity` is given none (the operator's `x3dh-server token issue`). */
  enrolmentToken?: string | undefined;
  /** The device's clock for schedules (rotation, grace); tests move it. */
  now?: () => Date;
  /** Called by `close` after the store and the link are closed. */
  onClose?: () => Promise<void> | void;
  /**
   * The deployment id and operator public key the operator printed (docs/protocol-v2.md section
   * 6.11). Without it no request can be signed; without its operator key, peers' keys are refused
   * unless it says to trust them on first use.
   */
  provisioning?: DeviceProvisioning | undefined;
}

export interface SecureDeviceEvents {
  session: [IncomingSession];
  message: [IncomingMessage];
  /** Something in the background failed (a pushed message refused, a refill); the device goes on. */
  problem: [Error];
  /** Accepted messages were saved as unread texts (`takeUnread` shows them). */
  unread: [];
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
 *
 * This class is the facade over the modules that do the work: sessions (session_builder,
 * session_cipher, session_record), the mailbox (mailbox_sync, outbox), trust (identity_key_store,
 * fingerprint), prekeys (prekey_maintenance) and identity rotation, all sharing one DeviceCore.
 */
export class SecureDevice extends EventEmitter<SecureDeviceEvents> {
  private readonly core: DeviceCore;
  private readonly outbox: Outbox;
  private readonly prekeys: PreKeyMaintenance;
  private readonly builder: SessionBuilder;
  private readonly cipher: SessionCipher;
  private readonly mailbox: MailboxSync;

  private constructor(store: KeyStore, state: DeviceState, linkFactory: V2LinkFactory, private readonly options: SecureDeviceOptions) {
    super();
    this.core = new DeviceCore(store, state, linkFactory, options.client, options.now ?? (() => new Date()),
      options.provisioning && checkProvisioning(options.provisioning));
    this.outbox = new Outbox(this.core, (error) => this.emit('problem', error));
    this.prekeys = new PreKeyMaintenance(this.core, options);
    this.builder = new SessionBuilder(this.core, this.outbox);
    this.cipher = new SessionCipher(this.core, this.outbox);
    this.mailbox = new MailboxSync(this.core, this.builder, this.cipher, () => this.emit('unread'));
  }

  static async open(store: KeyStore, linkFactory: V2LinkFactory, options: SecureDeviceOptions = {}): Promise<SecureDevice> {
    return new SecureDevice(store, await store.load(), linkFactory, options);
  }

  private get state() {
    return this.core.state;
  }

  get username(): string | null {
    return this.state.username;
  }

  get identityKey(): IdentityKey | null {
    return this.state.identity === null ? null : this.core.requireIdentity().publicKey;
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
    const now = this.core.now().getTime();
    return {
      username: this.state.username,
      identityKey: this.state.identity ? encodeBase64url(this.state.identity.publicKey) : null,
      signedPreKey: current ? { id: current.id, createdAt: current.createdAt.toISOString(), ageMs: now - current.createdAt.getTime() } : null,
      signedPreKeyIdsHeld: this.state.signedPreKeys.map((spk) => spk.id),
      oneTimePreKeysHeld: this.state.oneTimePreKeys.size,
      sessions: [...this.state.v2.sessions.values()].map(({ peer, current }) => ({
        peer, role: current.role, kind: current.kind, sent: sentCount(current), establishedAt: current.establishedAt.toISOString(),
      })),
      pinned: [...this.state.v2.pins.keys()],
      verified: [...this.state.v2.pins].filter(([, pin]) => pin.verifiedAt !== undefined).map(([name]) => name),
      trust: trustMode(this.options.provisioning),
      /** Peers pinned by certificate, with their epoch, and when an operator-certified rotation last replaced the key. */
      certified: [...this.state.v2.pins].filter(([, pin]) => pin.epoch !== undefined).map(([peer, pin]) => ({
        peer, epoch: pin.epoch!, certifiedRotationAt: pin.certifiedRotationAt?.toISOString() ?? null,
      })),
      outbox: this.state.v2.outbox.length,
      unread: this.state.v2.unread.length,
      refused: this.state.v2.refused.map((r) => ({ ...r, refusedAt: r.refusedAt.toISOString() })),
    };
  }

  /** v2 names are the certificate's common name and a topic level, so only `A-Z a-z 0-9 . _ -`, 1 to 64. */
  async setUsername(username: string): Promise<void> {
    if (!wireV2.isDeviceName(username)) throw new DeviceError('INVALID_INPUT', 'username must be 1 to 64 of A-Z a-z 0-9 . _ - (wire protocol v2)');
    await this.core.update((state) => { state.username = username; });
  }

  /** Forgets the username only; keys, pins and sessions stay. */
  async resetUsername(): Promise<void> {
    await this.core.update((state) => { state.username = null; });
  }

  /**
   * Enrols the identity key (created and saved first, on first use) under the username. A token is
   * needed unless the server runs open enrolment; enrolling again with the same key is harmless.
   */
  async registerIdentity(options: { token?: string | undefined } = {}): Promise<{ username: string; renamedFrom: null; newIdentity: boolean }> {
    const name = this.core.requireUsername();
    const newIdentity = this.state.identity === null;
    if (newIdentity) await this.core.update((state) => { state.identity = generateKeyPair(); });
    const identity = this.core.requireIdentity();
    const token = options.token ?? this.options.enrolmentToken;
    // The token never leaves the device: only its id and a MAC over this name, key and request id.
    const requestId = activeBackend.randomBytes(wireV2.REQUEST_ID_BYTES);
    const claim = token === undefined ? undefined : wireV2.enrolmentTokenClaim(token, name, identity.publicKey, requestId);
    let result;
    try {
      result = await this.core.client().call(identity, 'enroll', {
        identity_key: encodeBase64url(identity.publicKey),
        ...(claim === undefined ? {} : { token_id: encodeBase64url(claim.tokenId), token_proof: encodeBase64url(claim.proof) }),
      }, requestId);
    } catch (error) {
      // A refusal means the server enrolled nothing: a key made for this attempt goes, so the next
      // attempt starts clean. After a timeout the key stays, as the server may have enrolled it.
      if (newIdentity && error instanceof DeviceError && error.kind === 'SERVER_REFUSED') {
        await this.core.update((state) => { state.identity = null; });
      }
      throw error;
    }
    if (result.device !== name || !constantTimeEqual(result.identity_key, identity.publicKey)) {
      throw new DeviceError('BAD_RESPONSE', `the server enrolled ${result.device} with another key than requested`);
    }
    return { username: name, renamedFrom: null, newIdentity };
  }

  /** See PreKeyMaintenance.publish. */
  publishBundle(count?: number): Promise<{ signedPreKeyId: number; oneTimePreKeyIds: number[] }> {
    return this.prekeys.publish(count);
  }

  /** Scheduled upkeep: resends saved messages, then prekey upkeep (PreKeyMaintenance.maintain). */
  async maintain(): Promise<{ rotated: boolean; uploadedOneTimePreKeys: number }> {
    await this.outbox.flush();
    return this.prekeys.maintain();
  }

  /** Every device in the directory, read a page at a time. */
  async listUsers(): Promise<string[]> {
    const devices: string[] = [];
    for (;;) {
      const after = devices.at(-1);
      const page = (await this.core.call('directory.list', { ...(after === undefined ? {} : { after }), limit: wireV2.MAX_DIRECTORY_PAGE })).devices;
      devices.push(...page);
      if (page.length < wireV2.MAX_DIRECTORY_PAGE) return devices;
    }
  }

  /** X3DH as initiator with the first text (SessionBuilder.start). */
  startSession(peer: string, text: string): Promise<{ oneTimePreKeyId: number | null; identityChanged: false; certifiedRotation: boolean }> {
    return this.builder.start(peer, text);
  }

  /** Sends a `session` message (SessionCipher.send). */
  send(peer: string, text: string): Promise<void> {
    return this.cipher.send(peer, text);
  }

  /**
   * Reads the mailbox and accepts what it holds: handshakes and messages become unread texts, saved
   * before the mailbox copies are acknowledged. Messages that cannot be accepted stay in the mailbox
   * and are reported.
   */
  syncMailbox(): Promise<MailboxReport> {
    return this.mailbox.sync();
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
    await this.core.update((state) => { state.v2.unread = state.v2.unread.filter((u) => u.mailboxId !== first.mailboxId); });
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
    if (texts.length === 0) requireSession(this.state, peer);
    if (texts.length > 0) {
      const shown = new Set(texts.map((u) => u.mailboxId));
      await this.core.update((state) => { state.v2.unread = state.v2.unread.filter((u) => !shown.has(u.mailboxId)); });
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
    await this.core.update((state) => { state.v2.unread = state.v2.unread.filter((u) => !shown.has(u.mailboxId)); });
    for (const u of unread) {
      if (u.kind === 'handshake') this.emit('session', { peer: u.peer, text: u.text, identityChanged: false });
      else this.emit('message', { peer: u.peer, text: u.text });
    }
    return unread.map(({ kind, peer, text }) => ({ kind, peer, text }));
  }

  /** The safety number with a peer, from the pinned key, and whether the directory now says otherwise. */
  safetyNumber(peer: string): Promise<SafetyNumberReport> {
    return safetyNumberReport(this.core, peer);
  }

  /** Pins the directory's key for `peer` as verified, if `safetyNumber` is its number as the user compared it (identity_key_store). */
  trust(peer: string, safetyNumber: string): ReturnType<typeof trustDirectoryKey> {
    return trustDirectoryKey(this.core, peer, safetyNumber);
  }

  /** The server's view of this device's prekeys. */
  preKeyStatus(): Promise<wireV2.RequestResult<'prekeys.status'>> {
    return this.core.call('prekeys.status', {});
  }

  /**
   * Deletes this device's prekeys and mailbox on the server; the name stays reserved for this
   * identity key, which is kept so that enrolling again restores the device.
   */
  async deleteDevice(): Promise<void> {
    await this.core.call('device.delete', {});
    await this.core.update(forgetPreKeys);
  }

  /**
   * Replaces this device's identity key (identity_rotation.ts) and publishes new prekeys. Peers see
   * a changed key and must accept it (`trust`) before they talk to this device again.
   */
  async rotateIdentity(): Promise<{ identityKey: string; signedPreKeyId: number; oneTimePreKeyIds: number[] }> {
    const identityKey = await rotateIdentity(this.core);
    const published = await this.publishBundle();
    return { identityKey: encodeBase64url(identityKey), ...published };
  }

  /**
   * Takes pushes and reconnections from the link: a pushed message is accepted at once (the
   * mailbox stays authoritative), `prekeys_low` refills, and a reconnection reads the mailbox for
   * pushes missed meanwhile. Failures are emitted as `problem`.
   */
  listen(): void {
    this.core.link().listen({
      push: (payload) => void this.handlePush(payload),
      connected: () => void this.background(() => this.syncMailbox()),
    });
  }

  async close(): Promise<void> {
    await this.core.close();
    await this.options.onClose?.();
  }

  private async handlePush(payload: Buffer): Promise<void> {
    if (this.core.closed) return;
    const parsed = wireV2.parsePayload(wireV2.pushSchema, payload);
    if (!parsed.ok) {
      this.emit('problem', new DeviceError('BAD_RESPONSE', `malformed push from the server: ${parsed.error}`));
      return;
    }
    const push = parsed.value;
    if (push.type === 'message') {
      await this.background(async () => {
        const report = await this.mailbox.pushed(push.message);
        for (const problem of report.problems) this.emit('problem', problem.error);
      });
    } else {
      await this.background(() => this.maintain());
    }
  }

  private async background(work: () => Promise<unknown>): Promise<void> {
    if (this.core.closed) return;
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
}
