/** Ed25519 group order. */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** Field prime of Curve25519. */
export const P = 2n ** 255n - 19n;

/** Public values only (signatures being verified, public keys): BigInt time follows the value's length. */
export function bytesToScalarLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

export function scalarToBytesLE(n: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

export const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16));

/** Ed25519 encodings of points of order 1, 2, 4 and 8 (bit 255 ignored), as libsodium's blocklist. */
const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(fromHex);

/** Whether a 32-byte encoding equals one of `list`, bit 255 ignored, comparing every byte (libsodium's blocklist check). */
export function inBlocklist(encoding: Uint8Array, list: readonly Uint8Array[]): boolean {
  return list.some((bad) => {
    let diff = (encoding[31]! & 0x7f) ^ bad[31]!;
    for (let i = 0; i < 31; i++) diff |= encoding[i]! ^ bad[i]!;
    return diff === 0;
  });
}

export function isSmallOrderEncoding(encoding: Uint8Array): boolean {
  return inBlocklist(encoding, SMALL_ORDER_ENCODINGS);
}

