import { describe, test } from 'node:test';
import fc from 'fast-check';
import { emptyStats, networkCommands, runNetwork } from './support/ratchet_network.js';

/** A modest number of runs here; `npm run test:ratchet-properties` runs 10^4 and reports what it saw. */
const RUNS = 50;

describe('security-v2 item 14: Double Ratchet over an adversarial network', () => {
  test('messages dropped, duplicated, reordered and delayed both ways: each opens once, replays and gaps above MAX_SKIP are refused without a state change', () => {
    fc.assert(fc.property(networkCommands(60), (commands) => runNetwork(commands, emptyStats())), { numRuns: RUNS });
  });
});
