import type { DeviceErrorKind } from '../errors.js';

/** The CLI's exit codes, one per kind of failure, so scripts can tell what went wrong. */
export const EXIT = {
  OK: 0,
  /** A defect: an error nobody expected (reported with its stack). */
  UNEXPECTED: 1,
  /** Bad command line, argument or setting. */
  USAGE: 2,
  /** A local precondition is missing: no username, no identity, no session with that peer. */
  NOT_READY: 3,
  /** The server refused the request or answered in a form the protocol does not allow. */
  SERVER: 4,
  /** The broker is unreachable, the server did not answer in time, or its database is unavailable. */
  UNREACHABLE: 5,
  /** A signature, decryption or associated-data check failed. */
  SECURITY: 6,
  /** The key store cannot be used: wrong passphrase, corrupt, in use by another process. */
  KEY_STORE: 7,
  /** A peer's identity key changed since it was pinned: compare safety numbers, then `trust <peer>`. */
  IDENTITY_CHANGED: 8,
  /** Stopped by Ctrl-C (128 + SIGINT, as shells report it). */
  INTERRUPTED: 130,
} as const;

export const exitCodeFor: Record<DeviceErrorKind, number> = {
  NOT_READY: EXIT.NOT_READY,
  SERVER_REFUSED: EXIT.SERVER,
  BAD_RESPONSE: EXIT.SERVER,
  UNREACHABLE: EXIT.UNREACHABLE,
  SECURITY: EXIT.SECURITY,
  KEY_STORE: EXIT.KEY_STORE,
  IDENTITY_CHANGED: EXIT.IDENTITY_CHANGED,
  INVALID_INPUT: EXIT.USAGE,
};

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  unexpected error (a defect)
  2  usage: bad command line, argument or setting
  3  not ready: no username, no identity or no session with that peer yet
  4  the server refused the request or answered malformed
  5  unreachable: no broker connection, no answer in time, or the server's database unavailable
  6  security check failed: signature, decryption, associated data or a replay
  7  key store unusable: wrong passphrase, corrupt file, or in use by another process
  8  a peer's identity key changed since it was pinned (v2): compare safety numbers, then trust <peer>
  130  interrupted (Ctrl-C)`;

/** Ends the command with a given exit code and a line for the user, without a stack. */
export class CliExit extends Error {
  constructor(readonly exitCode: number, message: string) {
    super(message);
    this.name = 'CliExit';
  }
}
