import { ProtocolError } from '../errors.js';

/** Why the Double Ratchet refused a message (docs/protocol-v2.md section 7). */
export type RatchetRefusalCode =
  | 'DUPLICATE'
  | 'TOO_MANY_SKIPPED'
  | 'DECRYPTION_FAILED'
  | 'SMALL_ORDER_KEY'
  | 'INVALID_KEY'
  | 'BAD_HEADER';

/**
 * A refused ratchet message. The session it was offered to is unchanged: decryption works on a
 * copy, so the caller keeps the session it passed in and may go on using it.
 */
export class RatchetError extends ProtocolError {
  declare readonly code: RatchetRefusalCode;

  constructor(code: RatchetRefusalCode, message: string) {
    super(code, message);
  }
}
