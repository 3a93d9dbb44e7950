/**
 * Whether XEdDSA signing takes longer or shorter depending on the secret nonce r, dudect style:
 * class A signs inputs whose nonce has leading zero bytes (r < 2^(252 - 8 * zero-bytes), about 4
 * bits of it are zero below L anyway), class B random inputs, the two interleaved in random order;
 * Welch's t-test on the durations, cropped at the pooled 95th percentile (interrupts, GC) as dudect
 * does. |t| < 4.5 means no timing difference was found at that sample size.
 * Measured on the active backend (X3DH_CRYPTO_BACKEND selects it): the scalar operations alone (r
 * reduced from its hash, s = h*a + r mod L) and the whole signature.
 * Usage: npm run bench:timing [-- --samples 100000 --zero-bytes 3]
 */
import { randomBytes, randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
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

const POOL = 8; // class A inputs (each costs ~2^(8k-4) hashes to find); class B is fresh for every sample
const T_THRESHOLD = 4.5;

const key = xeddsaSigningKey(generateKeyPair().privateKey);
const z = randomBytes(64);
const messageBytes = 32;

function hasLeadingZeros(scalar: Uint8Array): boolean {
  for (let i = 0; i < zeroBytes; i++) if (scalar[31 - i] !== 0) return false;
  return true;
}

/** `POOL` random inputs whose nonce (`nonceOf`) has `zeroBytes` leading zero bytes. */
function leadingZeroInputs(length: number, nonceOf: (input: Uint8Array) => Uint8Array): Uint8Array[] {
  const found: Uint8Array[] = [];
  while (found.length < POOL) {
    const input = randomBytes(length);
    if (hasLeadingZeros(nonceOf(input))) found.push(input);
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
 * Times `op(input)` `samples` times per class, the class of each sample drawn at random, and
 * prints Welch's t over the durations below the pooled 95th percentile.
 */
function dudect<T>(name: string, classA: () => T, classB: () => T, op: (input: T) => unknown): void {
  const warmup = Math.min(20_000, samples);
  for (let i = 0; i < warmup; i++) op(i & 1 ? classA() : classB());
  const durations: [number[], number[]] = [[], []];
  while (durations[0].length < samples || durations[1].length < samples) {
    const cls = randomInt(2) as 0 | 1;
    if (durations[cls].length >= samples) continue;
    const input = cls === 0 ? classA() : classB();
    const start = process.hrtime.bigint();
    op(input);
    durations[cls].push(Number(process.hrtime.bigint() - start));
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
// Both classes hand a freshly allocated input to the operation, so that only the values differ.
const fresh = (pool: Uint8Array[]) => () => Uint8Array.from(pool[randomInt(pool.length)]!);

// The scalar operations on secrets in isolation: r reduced from its 64-byte hash, then s = h*a + r
// mod L (h is public; one value for both classes).
const hashesA = leadingZeroInputs(64, (rWide) => backend.scalarReduce(rWide));
const h = backend.scalarReduce(randomBytes(64));
dudect('scalar operations', fresh(hashesA), () => randomBytes(64), (rWide) =>
  backend.scalarMulAdd(h, key.scalar, backend.scalarReduce(rWide)));

const messagesA = leadingZeroInputs(messageBytes, (m) => xeddsaNonceScalar(key.scalar, m, z));
dudect('whole signature', fresh(messagesA), () => randomBytes(messageBytes), (m) => xeddsaSignWith(key, m, z));
