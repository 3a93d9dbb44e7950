import type { Bucket } from '../storage/queries/fetch_allowance_queries.js';

/** The operator's limits for wire protocol v2 (flags of x3dh-server, see config.ts). */
export interface V2Settings {
  /** Largest |server time - request time| accepted; request ids are kept for three times this. */
  clockSkewSeconds: number;
  /** The server's clock, ms since the epoch: Date.now unless a test sets a skewed one. */
  clock?: () => number;
  /** New devices may enrol without an enrolment token. */
  openEnrolment: boolean;
  /** Bundle fetches per (requester, target): burst, then one more per interval. */
  fetchBurst: number;
  fetchIntervalSeconds: number;
  /** One-time prekeys handed out per target, whoever asks (v1 too): burst, then one more per interval. */
  targetFetchBurst: number;
  targetFetchIntervalSeconds: number;
  /** Most one-time prekeys a device may have in stock. */
  preKeyCap: number;
  /** A bundle fetch leaving fewer one-time prekeys than this pushes `prekeys_low` to the target. */
  preKeyLowThreshold: number;
  mailboxMaxMessages: number;
  mailboxMaxBytes: number;
  /**
   * Quotas of waiting messages per recipient: from one sender it has written to, from one it has
   * never written to, and from all of the latter together (docs/protocol-v2.md section 6.7).
   */
  mailboxMaxPerSender: number;
  mailboxMaxPerNewSender: number;
  mailboxMaxFromNewSenders: number;
  /** Messages per (sender, recipient): burst, then one more per interval. */
  sendBurst: number;
  sendIntervalSeconds: number;
  /** How long an unacknowledged message waits before it is deleted. */
  messageRetentionSeconds: number;
  /** Largest request payload, at most the protocol's 64 KiB. */
  maxPayloadBytes: number;
}

/** The per-target bucket of one-time prekey hand-outs, shared by v1 and v2 bundle fetches. */
export const targetBucket = (settings: Pick<V2Settings, 'targetFetchBurst' | 'targetFetchIntervalSeconds'>): Bucket =>
  ({ burst: settings.targetFetchBurst, intervalMs: settings.targetFetchIntervalSeconds * 1000 });
