import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { nobleBackend } from '../src/backend/noble.js';
import { createSodiumBackend, type SodiumNative } from '../src/backend/sodium.js';
import { bytesToScalarLE, L } from '../src/backend/scalar.js';
import { loadVectorFiles, hex, toHex } from './vector_files.js';

/* Both backends must agree byte for byte, so the pure-TypeScript fallback is tested here even when
 * the native one is active. */
const sodium = createSodiumBackend(createRequire(import.meta.url)('sodium-native') as SodiumNative, { hkdfSync, createHmac });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const RUNS = 30;

describe('sodium-native and noble backends agree', () => {
  test('X25519 base and shared secret', () => {
    fc.assert(fc.property(bytes(32), bytes(32), (a, b) => {
      assert.deepEqual(nobleBackend.x25519Base(a), sodium.x25519Base(a));
      const pub = sodium.x25519Base(b);
      assert.deepEqual(nobleBackend.x25519(a, pub), sodium.x25519(a, pub));
    }), { numRuns: RUNS });
    assert.equal(nobleBackend.x25519(randomBytes(32), new Uint8Array(32)), null);
    assert.equal(sodium.x25519(randomBytes(32), new Uint8Array(32)), null);
  });

  test('Ed25519 base multiplication of unreduced scalars below 2^255', () => {
    fc.assert(fc.property(bytes(32), (s) => {
      s[31]! &= 0x7f;
      assert.deepEqual(nobleBackend.ed25519BaseNoclamp(s), sodium.ed25519BaseNoclamp(s));
    }), { numRuns: RUNS });
  });

  test('scalar reduction, negation and a*b + c mod L, against BigInt, on unreduced and edge values', () => {
    const modL = (n: bigint) => ((n % L) + L) % L;
    const le = (n: bigint, length: number) => Uint8Array.from({ length }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
    const expect = (n: bigint) => toHex(le(modL(n), 32));
    const edges = [0n, 1n, L - 1n, L, L + 1n, 2n ** 252n, 2n ** 255n - 1n, 2n ** 256n - 1n].map((n) => le(n, 32));
    const wideEdges = [0n, L, L * L, 2n ** 512n - 1n, 2n ** 504n * L].map((n) => le(n, 64));
    const check = (a: Uint8Array, b: Uint8Array, c: Uint8Array, wide: Uint8Array) => {
      const [x, y, z] = [a, b, c].map(bytesToScalarLE) as [bigint, bigint, bigint];
      for (const backend of [nobleBackend, sodium]) {
        assert.equal(toHex(backend.scalarReduce(wide)), expect(bytesToScalarLE(wide)), backend.name);
        assert.equal(toHex(backend.scalarNegate(a)), expect(-x), backend.name);
        assert.equal(toHex(backend.scalarMulAdd(a, b, c)), expect(x * y + z), backend.name);
      }
    };
    for (const a of edges) for (const b of edges) check(a, b, le(L - 1n, 32), wideEdges[edges.indexOf(b) % wideEdges.length]!);
    fc.assert(fc.property(bytes(32), bytes(32), bytes(64), (a, b, wide) => {
      check(a, b, nobleBackend.scalarReduce(wide), wide);
    }), { numRuns: 200 });
  });

  test('SHA-512 over several parts, HKDF-SHA-512, HMAC-SHA-512, XChaCha20-Poly1305', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 70 }), bytes(32), bytes(24),
      (data, ad, key, nonce) => {
        assert.deepEqual(nobleBackend.sha512(data, ad), sodium.sha512(data, ad));
        assert.deepEqual(nobleBackend.hkdfSha512(data, ad, key, 32), sodium.hkdfSha512(data, ad, key, 32));
        assert.deepEqual(nobleBackend.hmacSha512(ad, data), sodium.hmacSha512(ad, data));
        const sealed = sodium.xchachaEncrypt(key, nonce, data, ad);
        assert.deepEqual(nobleBackend.xchachaEncrypt(key, nonce, data, ad), sealed);
        assert.deepEqual(nobleBackend.xchachaDecrypt(key, nonce, sealed, ad), data);
        sealed[0]! ^= 1;
        assert.equal(nobleBackend.xchachaDecrypt(key, nonce, sealed, ad), null);
        assert.equal(sodium.xchachaDecrypt(key, nonce, sealed, ad), null);
      }), { numRuns: RUNS });
  });

  test('strict Ed25519 verification on every verification vector and on mutated signatures', () => {
    const xeddsa = loadVectorFiles().find((f) => f.name === 'xeddsa');
    const cases = (xeddsa?.cases ?? []).filter((c) => c['kind'] === 'verify' || c['kind'] === 'sign');
    for (const c of cases) {
      const sig = hex(String(c['signature']));
      const msg = hex(String(c['msg']));
      const pub = hex(String(c['ed25519_pub']));
      assert.equal(nobleBackend.ed25519Verify(sig, msg, pub), sodium.ed25519Verify(sig, msg, pub), String(c['id']));
      for (let bit = 0; bit < 512; bit += 37) {
        const mutated = Uint8Array.from(sig);
        mutated[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(nobleBackend.ed25519Verify(mutated, msg, pub), sodium.ed25519Verify(mutated, msg, pub));
      }
    }
  });
});
