/**
 * The Double Ratchet's adversarial-network property (test/ratchet_properties.test.ts) at scale:
 * at least 10^4 runs of up to 50 commands each (sends, bursts, deliveries, duplicates, drops),
 * then a report of what the runs exercised.
 * Usage: npm run test:ratchet-properties [-- --runs 10000 --seed 42]
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { activeBackend, MAX_SKIP, MAX_SKIPPED } from '../src/index.js';
import { emptyStats, networkCommands, runNetwork } from '../test/support/ratchet_network.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10000' }, seed: { type: 'string' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
const seed = values.seed === undefined ? Date.now() : Number(values.seed);

const stats = emptyStats();
const started = performance.now();
let done = 0;
fc.assert(fc.property(networkCommands(50), (commands) => {
  runNetwork(commands, stats);
  if (++done % 1000 === 0) console.error(`${done} runs, ${((performance.now() - started) / 1000).toFixed(0)} s`);
}), { numRuns: runs, seed });
const seconds = (performance.now() - started) / 1000;

console.log(`backend ${activeBackend.name}, seed ${seed}: ${runs} runs passed in ${seconds.toFixed(1)} s`);
console.log(`checked after every command, in every run:
  - every message delivered for the first time opened exactly once, with the plaintext sent
    (unless its key had been deleted as the oldest beyond MAX_SKIPPED=${MAX_SKIPPED}, or its gap exceeded MAX_SKIP=${MAX_SKIP})
  - every replay of an opened message was refused
  - every gap above MAX_SKIP was refused with TOO_MANY_SKIPPED
  - every refusal left the receiver's serialized state byte for byte unchanged
  - at most MAX_SKIPPED skipped keys stored
  - no (AEAD key, nonce) pair used twice`);
console.log(`totals: ${stats.sent} messages sent, ${stats.opened} opened, ${stats.dropped} dropped,`);
console.log(`        ${stats.refusedReplays} replays refused, ${stats.refusedGaps} gaps above MAX_SKIP refused,`);
console.log(`        ${stats.refusedDeletedKeys} refused because their key was deleted beyond MAX_SKIPPED,`);
console.log(`        largest skipped-key store seen: ${stats.maxSkippedStored}, most (key, nonce) pairs in one run: ${stats.keyNoncePairs}`);
