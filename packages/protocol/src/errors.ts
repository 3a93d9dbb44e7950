/**
 * Every failure of the protocol core is one of these. Messages name the value that was wrong
 * and how, never its content: keys, secrets and plaintexts must not reach logs.
 */
export type ProtocolErrorCode =
  | 'INVALID_LENGTH'
  | 'INVALID_ENCODING'
  | 'SMALL_ORDER_KEY'
  | 'INVALID_KEY'
  | 'BAD_SIGNATURE'
  | 'DECRYPTION_FAILED'
  | 'INVALID_MESSAGE'
  | 'DUPLICATE'
  | 'TOO_MANY_SKIPPED'
  | 'BAD_HEADER';

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A byte string had the wrong length (or was not a byte string). */
export class InvalidLengthError extends ProtocolError {
  constructor(what: string, expected: number | string, actual: number | string) {
    super('INVALID_LENGTH', `${what} must be ${expected} bytes, got ${actual}`);
  }
}

/** Text that should have carried bytes (base64url) or a structured value was malformed. */
export class EncodingError extends ProtocolError {
  constructor(message: string) {
    super('INVALID_ENCODING', message);
  }
}

/** A Diffie-Hellman output was all zero: the peer's public key has small order. */
export class SmallOrderKeyError extends ProtocolError {
  constructor(what: string) {
    super('SMALL_ORDER_KEY', `${what}: Diffie-Hellman output is all zero (small-order public key)`);
  }
}

/** A public key that no honest party produces, such as a non-canonical X25519 encoding. */
export class InvalidKeyError extends ProtocolError {
  constructor(what: string, why: string) {
    super('INVALID_KEY', `${what}: ${why}`);
  }
}

/** An XEdDSA signature did not verify. */
export class SignatureError extends ProtocolError {
  constructor(what: string) {
    super('BAD_SIGNATURE', `${what}: signature verification failed`);
  }
}

/** Authenticated decryption failed: wrong key, nonce or associated data, or a tampered ciphertext. */
export class DecryptionError extends ProtocolError {
  constructor(what: string) {
    super('DECRYPTION_FAILED', `${what}: authentication failed`);
  }
}

/** A protocol message was well-formed bytes but broke a protocol rule. */
export class InvalidMessageError extends ProtocolError {
  constructor(message: string) {
    super('INVALID_MESSAGE', message);
  }
}
