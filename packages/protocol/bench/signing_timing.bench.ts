/**
 * Whether XEdDSA signing takes longer or shorter depending on the secret nonce r, dudect style:
 * class A signs inputs whose nonce has its top zero-bytes bytes zero (r < 2^(256 - 8 * zero-bytes);
 * r < L < 2^253 anyway), class B random inputs, the two interleaved in random order;
 * Welch's t-test on the durations, cropped at the pooled 95th percentile (interrupts, GC) as dudect
 * does. |t| < 4.5 means no timing difference was found at that sample size.
 * Measured on the active backend (X3DH_CRYPTO_BACKEND selects it): the scalar operations alone (r
 * reduced from its hash, s = h*a + r mod L) and the whole signature.
 * Usage: npm run bench:timing [-- --samples 100000 --zero-bytes 3]
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { bytesToScalarLE, L } from '../src/backend/scalar.js';
import { activeBackend as backend, generateKeyPair, xeddsaNonceScalar, xeddsaSignWith, xeddsaSigningKey } from '../src/index.js';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '100000' },
    'zero-bytes': { type: 'string', default: '3' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npm run bench:timing -- [--samples N per class] [--zero-bytes K]   (X3DH_CRYPTO_BACKEND=noble for pure TypeScript)');
  process.exit(0);
}
const samples = Number(values.samples);
const zeroBytes = Number(values['zero-bytes']);
if (!(Number.isInteger(samples) && samples >= 1000)) throw new Error('--samples must be an integer >= 1000');
if (!(Number.isInteger(zeroBytes) && zeroBytes >= 1 && zeroBytes <= 4)) throw new Error('--zero-bytes must be 1 to 4');

const POOL = 8; // class A inputs (a message costs ~2^(8k-3) hashes to find); class B is fresh for every sample
const T_THRESHOLD = 4.5;

const key = xeddsaSigningKey(generateKeyPair().privateKey);
const z = randomBytes(64);
const messageBytes = 32;

const bound = 1n << BigInt(256 - 8 * zeroBytes);
const le = (n: bigint, length: number) => Uint8Array.from({ length }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

/** Uniform-looking 64-byte hashes whose reduction mod L has `zeroBytes` leading zero bytes. */
function leadingZeroHashes(): Uint8Array[] {
  return Array.from({ length: POOL }, () => {
    const random = bytesToScalarLE(randomBytes(64));
    const hash = random - (random % L) + bytesToScalarLE(randomBytes(32)) % bound;
    return le(hash < 1n << 512n ? hash : hash - L, 64);
  });
}

/** XEdDSA's hash_1 prefix (0xFE, then 31 x 0xFF), to search with node:crypto on either backend. */
const HASH1_PREFIX = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xfe : 0xff));

/** Messages whose nonce r (for this key and Z) has `zeroBytes` leading zero bytes. */
function leadingZeroMessages(): Uint8Array[] {
  const found: Uint8Array[] = [];
  while (found.length < POOL) {
    const m = randomBytes(messageBytes);
    const hash = createHash('sha512').update(HASH1_PREFIX).update(key.scalar).update(m).update(z).digest();
    if (bytesToScalarLE(hash) % L >= bound) continue;
    const r = xeddsaNonceScalar(key.scalar, m, z); // the signer's own nonce, as a check of the search
    if (bytesToScalarLE(r) >= bound) throw new Error('nonce search disagrees with xeddsaNonceScalar');
    found.push(m);
  }
  return found;
}

interface Stats { n: number; mean: number; variance: number }

function stats(values: number[]): Stats {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { n, mean, variance };
}

/**
 * Times `op(input)` `samples` times per class and prints Welch's t over the durations below the
 * pooled 95th percentile. As dudect does, the inputs of a batch and their classes (drawn at random)
 * are prepared before the batch is timed, so that the code running just before each timed call (and
 * what it leaves in caches and predictors) is the same for both classes.
 */
function dudect<T>(name: string, classA: () => T, classB: () => T, op: (input: T) => unknown): void {
  const batch = 5_000;
  const durations: [number[], number[]] = [[], []];
  for (let round = -1; durations[0].length < samples || durations[1].length < samples; round++) {
    const classes = Array.from({ length: batch }, () => randomInt(2) as 0 | 1);
    const inputs = classes.map((cls) => (cls === 0 ? classA() : classB()));
    const times = new Float64Array(batch);
    for (let i = 0; i < batch; i++) {
      const start = process.hrtime.bigint();
      op(inputs[i]!);
      times[i] = Number(process.hrtime.bigint() - start);
    }
    if (round < 0) continue; // the first batch warms the JIT up
    classes.forEach((cls, i) => { if (durations[cls].length < samples) durations[cls].push(times[i]!); });
  }
  const pooled = [...durations[0], ...durations[1]].sort((a, b) => a - b);
  const crop = pooled[Math.floor(pooled.length * 0.95)]!;
  const [a, b] = durations.map((d) => stats(d.filter((x) => x <= crop)));
  const t = (a!.mean - b!.mean) / Math.sqrt(a!.variance / a!.n + b!.variance / b!.n);
  const verdict = Math.abs(t) < T_THRESHOLD ? 'no leak found' : 'LEAK';
  console.log(`${name.padEnd(30)} A ${a!.mean.toFixed(0).padStart(7)} ns  B ${b!.mean.toFixed(0).padStart(7)} ns  `
    + `|t| = ${Math.abs(t).toFixed(2).padStart(6)}  ${verdict}`);
}

console.log(`backend: ${backend.name}, node ${process.version}, ${samples} samples per class, `
  + `class A: nonce r with ${zeroBytes} leading zero bytes (pool of ${POOL}), class B: random\n`);
// Both classes make the same allocations and hand the operation a fresh copy, so that only the
// values differ (not even where the inputs lie in memory).
const classA = (pool: Uint8Array[]) => () => {
  randomBytes(pool[0]!.length);
  return Uint8Array.from(pool[randomInt(pool.length)]!);
};
const classB = (length: number) => () => {
  const random = randomBytes(length);
  randomInt(POOL);
  return Uint8Array.from(random);
};

// The scalar operations on secrets in isolation: r reduced from its 64-byte hash, then s = h*a + r
// mod L (h is public; one value for both classes).
const h = backend.scalarReduce(randomBytes(64));
dudect('scalar operations', classA(leadingZeroHashes()), classB(64), (rWide) =>
  backend.scalarMulAdd(h, key.scalar, backend.scalarReduce(rWide)));

dudect('whole signature', classA(leadingZeroMessages()), classB(messageBytes), (m) => xeddsaSignWith(key, m, z));
