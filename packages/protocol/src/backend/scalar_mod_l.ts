/**
 * Arithmetic mod L (the Ed25519 group order) on secret scalars in constant time, after TweetNaCl's
 * modL: numbers are 64 limbs of nominally 8 bits held in a Float64Array (integers below 2^53 are
 * exact), every loop runs a fixed number of times, carries are computed with multiplications by
 * 2^-8 and Math.floor (no division, whose latency varies with the operands on some CPUs), and no
 * branch or table index depends on a value. No BigInt anywhere: V8's BigInt operations take time
 * proportional to the number's length, which is how leading zero bytes of a nonce showed.
 * As any JavaScript, this relies on the engine compiling the arithmetic to fixed-latency
 * instructions, and on V8 (Node 20, AMD EPYC) it does not fully: npm run bench:timing still finds
 * reduction and h*a + r about 4% (~0.4 us) faster for nonces with three leading zero bytes (|t| ~ 130
 * at 10^5 samples per class), with no deoptimization, BigInt or branch on a value involved; the cause
 * is not found yet. In Node with libsodium only the exact product (mulAddWide) runs here, and the
 * benchmark finds no dependence there.
 */

/** L in 32 little-endian bytes. */
const L_BYTES = Float64Array.of(
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
);
/** L - 1: s * (L - 1) = -s mod L. */
const L_MINUS_ONE = Uint8Array.from(L_BYTES, (b, i) => (i === 0 ? b - 1 : b));
const ZERO = new Uint8Array(32);
const INV_256 = 1 / 256;

/** Reduces 64 limbs (each below about 2^22 in magnitude) mod L into 32 bytes; overwrites x. */
function reduceLimbs(x: Float64Array): Uint8Array {
  // Fold limbs 63..32 down: 2^256 = -16 * (L - 2^252) * ... mod L, limb by limb (TweetNaCl's modL).
  for (let i = 63; i >= 32; i--) {
    let carry = 0;
    let j = i - 32;
    for (; j < i - 12; j++) {
      x[j]! += carry - 16 * x[i]! * L_BYTES[j - (i - 32)]!;
      carry = Math.floor((x[j]! + 128) * INV_256);
      x[j]! -= carry * 256;
    }
    x[j]! += carry;
    x[i] = 0;
  }
  // Subtract floor(x / 2^252) * L once, then add L back in the same fixed pass if that went negative.
  let carry = 0;
  const top = Math.floor(x[31]! * (1 / 16));
  for (let j = 0; j < 32; j++) {
    x[j]! += carry - top * L_BYTES[j]!;
    carry = Math.floor(x[j]! * INV_256);
    x[j]! -= carry * 256;
  }
  for (let j = 0; j < 32; j++) x[j]! -= carry * L_BYTES[j]!;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    const c = Math.floor(x[i]! * INV_256);
    x[i + 1]! += c;
    out[i] = x[i]! - c * 256;
  }
  x.fill(0);
  return out;
}

/** A 64-byte little-endian integer mod L. */
export function reduceWide(wide: Uint8Array): Uint8Array {
  return reduceLimbs(Float64Array.from(wide));
}

/** The 512-bit product a*b + c of 32-byte little-endian integers, as 64 limbs (not yet carried). */
function mulAddLimbs(a: Uint8Array, b: Uint8Array, c: Uint8Array): Float64Array {
  const x = new Float64Array(64);
  for (let i = 0; i < 32; i++) x[i] = c[i]!;
  for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) x[i + j]! += a[i]! * b[j]!;
  return x;
}

/** a*b + c mod L for any 32-byte little-endian a, b, c. */
export function mulAdd(a: Uint8Array, b: Uint8Array, c: Uint8Array): Uint8Array {
  return reduceLimbs(mulAddLimbs(a, b, c));
}

/** -s mod L for any 32-byte little-endian s. */
export function negate(s: Uint8Array): Uint8Array {
  return mulAdd(s, L_MINUS_ONE, ZERO);
}

/** The exact 64-byte product a*b + c (no reduction), for a backend whose own reduction is native. */
export function mulAddWide(a: Uint8Array, b: Uint8Array, c: Uint8Array): Uint8Array {
  const x = mulAddLimbs(a, b, c);
  const out = new Uint8Array(64);
  let carry = 0;
  for (let i = 0; i < 64; i++) {
    const v = x[i]! + carry;
    carry = Math.floor(v * INV_256);
    out[i] = v - carry * 256;
  }
  x.fill(0);
  return out;
}

/** Bytewise a if `choose` is 1, b if it is 0, without a branch on `choose`. */
export function select(choose: 0 | 1, a: Uint8Array, b: Uint8Array): Uint8Array {
  const mask = -choose & 0xff;
  return Uint8Array.from(b, (bi, i) => bi ^ (mask & (a[i]! ^ bi)));
}
