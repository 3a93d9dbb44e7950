import { encodeBase64url, generateKeyPair, type KeyPair, wireV2 } from '@x3dh-iot/protocol';
import type { DeviceState, SignedPreKey } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { DeviceCore } from './device_core.js';

const DAY_MS = 24 * 3600 * 1000;
/** Unused one-time prekey private keys kept at most: twice the server's default stock cap. */
const ONE_TIME_PREKEYS_KEPT = 400;
/**
 * Added to the retention period before a handed-out one-time prekey's private key goes: the
 * server dates hand-outs and expires messages by its clock, which may differ from this device's
 * by the server's time window (300 s by default).
 */
const HANDED_OUT_CLOCK_MARGIN_MS = 10 * 60 * 1000;

export interface PreKeySchedule {
  /** One-time prekeys the device keeps on the server (refilled up to this). */
  oneTimePreKeyTarget?: number;
  /** Refill when the server holds fewer than this (the server pushes `prekeys_low` below its own threshold). */
  oneTimePreKeyLow?: number;
  /** Age at which the signed prekey is replaced (7 days by default). */
  signedPreKeyRotationMs?: number;
  /** How long a replaced signed prekey's private key is kept for delayed initial messages (30 days by default). */
  signedPreKeyGraceMs?: number;
}

type PreKeyStatus = wireV2.RequestResult<'prekeys.status'>;

/**
 * The device's prekeys: one-time prekeys kept stocked on the server, the signed prekey replaced
 * when due, replaced keys kept for their grace period and then deleted. Keys are created and saved
 * before they are uploaded, so a prekey the server hands out is always one this device can open.
 */
export class PreKeyMaintenance {
  private readonly target: number;
  private readonly low: number;
  private readonly rotationMs: number;
  private readonly graceMs: number;

  constructor(private readonly core: DeviceCore, schedule: PreKeySchedule) {
    this.target = schedule.oneTimePreKeyTarget ?? 50;
    this.low = schedule.oneTimePreKeyLow ?? 10;
    this.rotationMs = schedule.signedPreKeyRotationMs ?? 7 * DAY_MS;
    this.graceMs = schedule.signedPreKeyGraceMs ?? 30 * DAY_MS;
  }

  /**
   * Uploads a new signed prekey (the one it replaces is kept for its grace period) and `count` new
   * one-time prekeys, added to the server's stock (by default enough to reach the target stock).
   * Ids continue above everything this device and the server have seen, so none is ever reused.
   */
  async publish(count?: number): Promise<{ signedPreKeyId: number; oneTimePreKeyIds: number[] }> {
    if (count !== undefined && (!Number.isInteger(count) || count < 0 || count > 1000)) {
      throw new DeviceError('INVALID_INPUT', 'the number of one-time prekeys must be a whole number from 0 to 1000');
    }
    const status = await this.core.call('prekeys.status', {});
    return this.upload(status, count ?? Math.max(0, this.target - status.one_time_prekeys), true);
  }

  /**
   * Rotates the signed prekey when it is due (or missing on the server), refills one-time prekeys
   * when the server's stock is low and forgets signed prekeys past their grace period (with their
   * replay records). Does nothing before the first publish.
   */
  async maintain(): Promise<{ rotated: boolean; uploadedOneTimePreKeys: number }> {
    await this.core.update((state) => this.prune(state));
    if (this.core.state.signedPreKeys.length === 0) return { rotated: false, uploadedOneTimePreKeys: 0 };
    let status = await this.core.call('prekeys.status', {});
    const forgotten = await this.deleteHandedOut(status);
    if (forgotten !== null) status = await this.core.call('prekeys.status', { forget_handed_out_through: forgotten });
    const refill = status.one_time_prekeys < this.low ? this.target - status.one_time_prekeys : 0;
    const rotate = this.signedPreKeyDue(status);
    if (!rotate && refill === 0) return { rotated: false, uploadedOneTimePreKeys: 0 };
    const uploaded = await this.upload(status, refill, rotate);
    return { rotated: rotate, uploadedOneTimePreKeys: uploaded.oneTimePreKeyIds.length };
  }

  /**
   * Deletes the private keys of the one-time prekeys the server handed out longer ago than its
   * mailbox retention period (plus a margin for the clocks): an initial message using one can no
   * longer arrive. Saved first; returns the highest id deleted, for the server to forget the
   * records up to it, or null when none is due. The hand-outs come oldest first, so the due
   * ones are the first of the list.
   */
  private async deleteHandedOut(status: PreKeyStatus): Promise<number | null> {
    const retention = status.message_retention_ms;
    if (retention === undefined) return null;
    const now = this.core.now().getTime();
    const due = (status.handed_out_one_time_prekeys ?? []).filter((h) => h.handed_out_at + retention + HANDED_OUT_CLOCK_MARGIN_MS <= now);
    if (due.length === 0) return null;
    await this.core.update((state) => {
      for (const h of due) state.oneTimePreKeys.delete(h.id);
    });
    return Math.max(...due.map((h) => h.id));
  }

  /** Creates the keys first and saves them, then uploads; the signed prekey goes with the first batch. */
  private async upload(status: PreKeyStatus, count: number, newSignedPreKey: boolean): Promise<{ signedPreKeyId: number; oneTimePreKeyIds: number[] }> {
    const identity = this.core.requireIdentity();
    const name = this.core.requireUsername();
    let signedPreKey: SignedPreKey | undefined;
    let oneTimePreKeys: { id: number; keyPair: KeyPair }[] = [];
    await this.core.update((state) => {
      const now = this.core.now();
      if (newSignedPreKey) {
        const id = Math.max(state.nextSignedPreKeyId, (status.max_signed_prekey_id ?? status.signed_prekey_id ?? 0) + 1);
        const keyPair = generateKeyPair();
        signedPreKey = { id, keyPair, signature: wireV2.signSignedPreKey(identity.privateKey, name, id, keyPair.publicKey), createdAt: now };
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
        signedPreKeyId = (await this.core.call('prekeys.upload', opks)).signed_prekey_id;
      }
    }
    return { signedPreKeyId: signedPreKeyId ?? 0, oneTimePreKeyIds: oneTimePreKeys.map((opk) => opk.id) };
  }

  private async uploadSignedPreKey(spk: SignedPreKey, opks: { one_time_prekeys?: { id: number; key: string }[] }): Promise<number | null> {
    const result = await this.core.call('prekeys.upload', {
      signed_prekey: { id: spk.id, key: encodeBase64url(spk.keyPair.publicKey), signature: encodeBase64url(spk.signature) }, ...opks,
    });
    return result.signed_prekey_id;
  }

  private signedPreKeyDue(status: PreKeyStatus): boolean {
    const current = this.core.state.signedPreKeys.at(-1);
    if (!current || status.signed_prekey_id !== current.id) return true;
    // The server holds another key or signature under this id (written behind this device's back): publish anew.
    const held = status.signed_prekey_digest;
    const own = wireV2.signedPreKeyDigest({ id: current.id, key: current.keyPair.publicKey, signature: current.signature });
    if (held !== undefined && held !== own) return true;
    // Signed before signatures named the device and id (or for another name): peers refuse it.
    const name = this.core.requireUsername();
    if (!wireV2.verifySignedPreKey(this.core.requireIdentity().publicKey, name, current.id, current.keyPair.publicKey, current.signature)) return true;
    return this.core.now().getTime() - current.createdAt.getTime() >= this.rotationMs;
  }

  /**
   * Deletes signed prekeys replaced longer ago than the grace period (their successor's creation
   * time is when they were replaced) with their replay records, which are useless without them, and
   * the oldest one-time prekeys beyond a bound.
   */
  private prune(state: DeviceState): void {
    const now = this.core.now().getTime();
    const spks = state.signedPreKeys;
    state.signedPreKeys = spks.filter((_, i) => i === spks.length - 1 || now - spks[i + 1]!.createdAt.getTime() < this.graceMs);
    const kept = new Set(state.signedPreKeys.map((spk) => spk.id));
    state.v2.acceptedHandshakes = state.v2.acceptedHandshakes.filter((h) => kept.has(h.signedPreKeyId));
    const opkIds = [...state.oneTimePreKeys.keys()].sort((a, b) => a - b);
    for (const id of opkIds.slice(0, Math.max(0, opkIds.length - ONE_TIME_PREKEYS_KEPT))) state.oneTimePreKeys.delete(id);
  }
}

/** Forgets every prekey and its replay records (the server deleted them: device deletion, identity rotation). */
export function forgetPreKeys(state: DeviceState): void {
  state.signedPreKeys = [];
  state.oneTimePreKeys.clear();
  state.v2.acceptedHandshakes = [];
}
