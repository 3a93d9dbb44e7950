import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { nobleBackend } from '../src/backend/noble.js';
import { createSodiumBackend, type SodiumNative } from '../src/backend/sodium.js';
import { activeBackend, generateKeyPair, xeddsaNonceScalar, xeddsaSignWith, xeddsaSigningKey } from '../src/index.js';

/* A nonce r with leading zero bytes, turned into a BigInt, takes less time (V8's BigInt work follows
 * the length): the bias lattice attacks recover keys from. Timing is measured by the benchmark
 * (npm run bench:timing); here, deterministically, that no BigInt is ever made from a secret. */

/** Calls of the global BigInt() made while `run` runs. */
function bigintCalls(run: () => void): number {
  const original = globalThis.BigInt;
  let calls = 0;
  globalThis.BigInt = new Proxy(original, {
    apply(target, self, args: [bigint | boolean | number | string]) {
      calls++;
      return target(...args);
    },
  });
  try {
    run();
  } finally {
    globalThis.BigInt = original;
  }
  return calls;
}

/** A key and a message whose nonce r has its top two bytes zero. */
function leadingZeroNonce() {
  const key = xeddsaSigningKey(generateKeyPair().privateKey);
  const z = randomBytes(64);
  for (;;) {
    const message = randomBytes(32);
    const r = xeddsaNonceScalar(key.scalar, message, z);
    if (r[31] === 0 && r[30] === 0) return { key, message, z, r };
  }
}

test('attack: signing with a nonce that has leading zero bytes never turns the nonce or key into a BigInt', () => {
  assert.equal(activeBackend.name, 'sodium-native', 'Node with a prebuilt libsodium signs natively');
  const { key, message, z } = leadingZeroNonce();
  assert.equal(bigintCalls(() => xeddsaSignWith(key, message, z)), 0);
});

test('attack: the scalar operations of both backends make no BigInt of a secret', () => {
  const sodium = createSodiumBackend(createRequire(import.meta.url)('sodium-native') as SodiumNative, { hkdfSync, createHmac });
  const { key, r } = leadingZeroNonce();
  const wide = new Uint8Array(64);
  wide.set(r);
  for (const backend of [nobleBackend, sodium]) {
    assert.equal(bigintCalls(() => {
      backend.scalarReduce(wide);
      backend.scalarNegate(key.scalar);
      backend.scalarMulAdd(r, key.scalar, r);
    }), 0, backend.name);
  }
});
