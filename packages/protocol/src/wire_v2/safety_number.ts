import { backend } from '#crypto-backend';
import { checkLength, concatBytes, utf8 } from '../bytes.js';
import { InvalidMessageError } from '../errors.js';
import { X25519_KEY_BYTES } from '../sizes.js';

const DOMAIN = utf8.encode('x3dh-iot/v2/fingerprint\0');
const ITERATIONS = 5200;

/** 30 digits for one party: six groups of five (docs/protocol-v2.md section 9). */
export function fingerprintDigits(name: string, identityKey: Uint8Array): string {
  checkLength('identity key', identityKey, X25519_KEY_BYTES);
  const nameBytes = utf8.encode(name);
  if (nameBytes.length > 255) throw new InvalidMessageError('device name longer than 255 bytes');
  let digest = backend.sha512(DOMAIN, Uint8Array.of(nameBytes.length), nameBytes, identityKey);
  // Iterated so that searching for a colliding key costs 5200 hashes per try.
  for (let i = 1; i < ITERATIONS; i++) digest = backend.sha512(concatBytes(digest, identityKey));
  let digits = '';
  for (let chunk = 0; chunk < 6; chunk++) {
    let value = 0;
    for (let i = 0; i < 5; i++) value = value * 256 + digest[chunk * 5 + i]!;
    digits += (value % 100000).toString().padStart(5, '0');
  }
  return digits;
}

/**
 * The 60-digit safety number two parties compare out of band: both fingerprints, the smaller first,
 * so that both sides compute the same string.
 */
export function safetyNumber(a: { name: string; identityKey: Uint8Array }, b: { name: string; identityKey: Uint8Array }): string {
  const [first, second] = [fingerprintDigits(a.name, a.identityKey), fingerprintDigits(b.name, b.identityKey)].sort();
  return `${first}${second}`;
}

/** Groups of five digits, twelve in all, as people read them. */
export function formatSafetyNumber(digits: string): string {
  return digits.match(/.{1,5}/g)?.join(' ') ?? '';
}
