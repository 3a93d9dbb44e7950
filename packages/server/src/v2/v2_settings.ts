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
  /** Most one-time prekeys a device may have in stock. */
  preKeyCap: number;
  /** A bundle fetch leaving fewer one-time prekeys than this pushes `prekeys_low` to the target. */
  preKeyLowThreshold: number;
  mailboxMaxMessages: number;
  mailboxMaxBytes: number;
  /** How long an unacknowledged message waits before it is deleted. */
  messageRetentionSeconds: number;
  /** Largest request payload, at most the protocol's 64 KiB. */
  maxPayloadBytes: number;
}
