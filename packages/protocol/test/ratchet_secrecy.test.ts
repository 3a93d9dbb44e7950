import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  activeBackend, concatBytes, decodeRatchetSession, encodeHeader, encodeRatchetSession, kdfChain, messageKeys, ratchetDecrypt,
  type ChainKey, type MessageKey, type RatchetMessage, type RatchetSession,
} from '../src/index.js';
import { receive, send, startedPair } from './support/ratchet_pair.js';

/** How far an attacker walks every chain key it holds, well past any chain used here. */
const CHAIN_STEPS = 64;

/**
 * Everything an attacker holding these session states can open: the states' own decryption,
 * plus every message key it can derive: the stored skipped keys and CHAIN_STEPS keys forward from
 * each sending and receiving chain key.
 */
function attackerOpens(states: readonly RatchetSession[], message: RatchetMessage): boolean {
  for (const state of states) {
    try {
      ratchetDecrypt(state, message);
      return true;
    } catch {
      // try the keys it can derive
    }
    const ad = concatBytes(state.associatedData, encodeHeader(message.header));
    const keys: MessageKey[] = [...state.skipped.values()].map((skipped) => skipped.messageKey);
    for (const start of [state.sendingChainKey, state.receivingChainKey]) {
      let chain: ChainKey | null = start;
      for (let i = 0; chain !== null && i < CHAIN_STEPS; i++) {
        const step = kdfChain(chain);
        keys.push(step.messageKey);
        chain = step.chainKey;
      }
    }
    for (const key of keys) {
      const { key: aeadKey, nonce } = messageKeys(key);
      if (activeBackend.xchachaDecrypt(aeadKey, nonce, message.ciphertext, ad) !== null) return true;
    }
  }
  return false;
}

const copy = (session: RatchetSession) => decodeRatchetSession(encodeRatchetSession(session));

describe('security-v2 item 14: forward secrecy and post-compromise security of the ratchet', () => {
  test('attack: a snapshot of both states taken later opens none of the earlier messages', () => {
    let { a, b } = startedPair();
    const seen: RatchetMessage[] = [];
    const sendAll = (from: RatchetSession, texts: string[]) => {
      const out: RatchetMessage[] = [];
      for (const text of texts) {
        const sent = send(from, text);
        from = sent.session;
        out.push(sent.message);
      }
      seen.push(...out);
      return { session: from, out };
    };
    // Out of order within chains, and several DH steps, all delivered.
    let batch = sendAll(a, ['a1', 'a2', 'a3']);
    a = batch.session;
    for (const i of [2, 0, 1]) b = receive(b, batch.out[i]!).session;
    batch = sendAll(b, ['b1', 'b2']);
    b = batch.session;
    for (const i of [1, 0]) a = receive(a, batch.out[i]!).session;
    batch = sendAll(a, ['a4']);
    a = batch.session;
    b = receive(b, batch.out[0]!).session;
    batch = sendAll(b, ['b3', 'b4', 'b5']);
    b = batch.session;
    for (const i of [0, 2, 1]) a = receive(a, batch.out[i]!).session;

    const snapshots = [copy(a), copy(b)];
    for (const [i, message] of seen.entries()) {
      assert.equal(attackerOpens(snapshots, message), false, `message ${i} opened from the later state`);
    }
  });

  test('attack: a copy of the state taken at time t opens nothing new after one round trip in each direction, and its forgeries are refused', () => {
    let { a, b } = startedPair();
    ({ session: b } = receive(b, send(a, 'warm-up').message));
    const reply = send(b, 'warm-up reply');
    b = reply.session;
    a = receive(a, reply.message).session;

    // The attacker copies Bob's state, then follows every message it sees with it.
    const known: RatchetSession[] = [copy(b)];
    const follow = (message: RatchetMessage) => {
      for (const state of [...known]) {
        try {
          known.push(ratchetDecrypt(state, message).session);
          return true;
        } catch {
          // not with this state
        }
      }
      return attackerOpens(known, message);
    };

    // The compromise is real: right after it, the copy reads Alice's next message and forges Bob's.
    const forged = send(known[0]!, 'forged before healing');
    assert.equal(receive(a, forged.message).text, 'forged before healing');
    const m1 = send(a, 'round trip 1 (A to B)');
    a = m1.session;
    assert.equal(follow(m1.message), true, 'the copy reads the message sent right after the compromise');
    b = receive(b, m1.message).session;

    // B to A, then A to B: each side has drawn a ratchet key the copy never saw.
    const later: RatchetMessage[] = [];
    const m2 = send(b, 'round trip 1 (B to A)');
    b = m2.session;
    a = receive(a, m2.message).session;
    const m3 = send(a, 'round trip 2 (A to B)');
    a = m3.session;
    b = receive(b, m3.message).session;
    later.push(m2.message, m3.message);
    for (let turn = 0; turn < 3; turn++) {
      const fromA = send(a, `A ${turn}`);
      a = fromA.session;
      b = receive(b, fromA.message).session;
      const fromB = send(b, `B ${turn}`);
      b = fromB.session;
      a = receive(a, fromB.message).session;
      later.push(fromA.message, fromB.message);
    }
    for (const [i, message] of later.entries()) assert.equal(follow(message), false, `message ${i} after healing opened by the copy`);
    for (const state of known) {
      // A message number the copy has not used yet on each chain it holds.
      const forgery = send(send(state, 'skip').session, 'forged after healing');
      assert.throws(() => receive(a, forgery.message), 'a forgery from the copy is refused');
    }
  });
});
