/**
 * Failures a device expects in normal operation. The kind tells a caller (and the CLI's exit code)
 * what to do next; the message is one readable line and never contains key material.
 */
export type DeviceErrorKind =
  /** A local precondition is missing: no username, no identity, no session with that peer. */
  | 'NOT_READY'
  /** The server answered with an error (unknown user, no bundle, ...). */
  | 'SERVER_REFUSED'
  /** The server's answer did not have the form wire v1 prescribes. */
  | 'BAD_RESPONSE'
  /** The broker could not be reached or the server did not answer in time. */
  | 'UNREACHABLE'
  /** Cryptographic check failed: bad signature, failed decryption, mismatched associated data. */
  | 'SECURITY'
  /**
   * A peer's identity key is not the one this device pinned for it. Refused until the user checks
   * the safety number and accepts the new key explicitly.
   */
  | 'IDENTITY_CHANGED'
  /** The key store cannot be used: wrong passphrase, corrupt file, in use by another process. */
  | 'KEY_STORE'
  /** An argument or a setting is not acceptable. */
  | 'INVALID_INPUT';

export class DeviceError extends Error {
  constructor(readonly kind: DeviceErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeviceError';
  }
}
