import { InvalidLengthError } from './errors.js';

/** Throws InvalidLengthError unless `value` is a Uint8Array of exactly `length` bytes. */
export function checkLength(what: string, value: unknown, length: number): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidLengthError(what, length, value === null ? 'null' : typeof value);
  }
  if (value.length !== length) throw new InvalidLengthError(what, length, value.length);
  return value;
}

/** Throws unless `value` is a Uint8Array (any length). */
export function checkBytes(what: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidLengthError(what, 'a byte array of', value === null ? 'null' : typeof value);
  }
  return value;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Equality in time independent of where the inputs differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export const utf8 = {
  encode: (text: string): Uint8Array => encoder.encode(text),
  /** Throws a TypeError on malformed UTF-8 instead of inserting replacement characters. */
  decode: (bytes: Uint8Array): string => strictDecoder.decode(bytes),
};
