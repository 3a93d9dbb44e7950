import { base64urlnopad } from '@scure/base';
import { checkBytes, checkLength } from './bytes.js';
import { EncodingError } from './errors.js';

/**
 * Strict base64url without padding, as libsodium's URLSAFE_NO_PADDING variant emits it.
 * Decoding refuses padding, whitespace, characters of the standard alphabet, impossible lengths and
 * non-zero unused trailing bits, so every byte string has exactly one accepted encoding.
 */
export function encodeBase64url(bytes: Uint8Array): string {
  return base64urlnopad.encode(checkBytes('base64url input', bytes));
}

export function decodeBase64url(text: string, what = 'value'): Uint8Array {
  if (typeof text !== 'string') throw new EncodingError(`${what} must be a base64url string`);
  try {
    return base64urlnopad.decode(text);
  } catch {
    throw new EncodingError(`${what} is not valid unpadded base64url`);
  }
}

/** Decodes and checks the decoded length, e.g. 32 for a key. */
export function decodeBase64urlFixed(text: string, length: number, what = 'value'): Uint8Array {
  return checkLength(what, decodeBase64url(text, what), length);
}
