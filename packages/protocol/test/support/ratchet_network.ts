import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  constantTimeEqual as equalBytes, encodeBase64url, encodeRatchetSession, generateKeyPair, kdfChain, MAX_SKIP, MAX_SKIPPED, messageKeys, ratchetDecrypt,
  ratchetEncrypt, RatchetError, skippedKeyId, utf8, wireV2, type RatchetMessage, type RatchetSession,
} from '../../src/index.js';

/**
 * A model of two parties talking through an adversarial network that drops, duplicates, reorders
 * and delays messages in both directions, for fast-check's model-based testing. After every
 * command it checks: a message opens at most once and with the plaintext sent; a message that was
 * never opened, whose key was not deleted as the oldest beyond MAX_SKIPPED and whose gap is within
 * MAX_SKIP opens; a gap above MAX_SKIP is refused with TOO_MANY_SKIPPED; every refusal leaves the
 * receiver's state byte for byte as it was; at most MAX_SKIPPED keys are stored; no (AEAD key,
 * nonce) pair is ever used twice.
 */

type Side = 'A' | 'B';
const other = (side: Side): Side => (side === 'A' ? 'B' : 'A');

interface InFlight {
  id: number;
  from: Side;
  message: RatchetMessage;
  plaintext: Uint8Array;
}

/** What the commands saw, for the bench script's report. */
export interface NetworkStats {
  sent: number;
  opened: number;
  refusedReplays: number;
  refusedGaps: number;
  refusedDeletedKeys: number;
  dropped: number;
  maxSkippedStored: number;
  keyNoncePairs: number;
}

export const emptyStats = (): NetworkStats => ({
  sent: 0, opened: 0, refusedReplays: 0, refusedGaps: 0, refusedDeletedKeys: 0, dropped: 0, maxSkippedStored: 0, keyNoncePairs: 0,
});

export class Network {
  readonly sessions: Record<Side, RatchetSession>;
  readonly inFlight: InFlight[] = [];
  readonly opened = new Set<number>();
  /** Skipped keys (by skippedKeyId) each side deleted as the oldest beyond MAX_SKIPPED. */
  readonly deleted: Record<Side, Set<string>> = { A: new Set(), B: new Set() };
  readonly keyNonces = new Set<string>();
  private nextId = 0;

  constructor(readonly stats: NetworkStats) {
    // A real handshake: X3DH, the ratchet start and the first message through x3dh.initial.
    const alice = generateKeyPair();
    const bob = { identity: generateKeyPair(), spk: generateKeyPair() };
    const bundle = {
      device: 'B', identityKey: bob.identity.publicKey, signedPreKey: bob.spk.publicKey, signedPreKeyId: 1,
      signedPreKeySignature: wireV2.signSignedPreKey(bob.identity.privateKey, 'B', 1, bob.spk.publicKey),
    };
    const first = utf8.encode('first');
    const sealed = wireV2.sealRatchetInitialEnvelope(alice, bundle, first);
    const opened = wireV2.openRatchetInitialEnvelope({ identity: bob.identity, signedPreKey: bob.spk.privateKey }, sealed.envelope);
    assert.deepEqual(opened.plaintext, first);
    this.sessions = { A: sealed.session, B: opened.session };
  }

  send(from: Side, count: number): void {
    for (let i = 0; i < count; i++) {
      const before = this.sessions[from];
      const aead = messageKeys(kdfChain(before.sendingChainKey!).messageKey);
      const pair = `${encodeBase64url(aead.key)}.${encodeBase64url(aead.nonce)}`;
      assert.ok(!this.keyNonces.has(pair), 'an (AEAD key, nonce) pair is used twice');
      this.keyNonces.add(pair);
      const id = this.nextId++;
      const plaintext = utf8.encode(`${from}${id}`);
      const { session, message } = ratchetEncrypt(before, plaintext);
      this.sessions[from] = session;
      this.inFlight.push({ id, from, message, plaintext });
    }
    this.stats.sent += count;
    this.stats.keyNoncePairs = Math.max(this.stats.keyNoncePairs, this.keyNonces.size);
  }

  drop(pick: number): void {
    this.inFlight.splice(pick % this.inFlight.length, 1);
    this.stats.dropped += 1;
  }

  /** Index of the message `from` sent last that is still in flight, or -1. */
  newestFrom(from: Side): number {
    for (let i = this.inFlight.length - 1; i >= 0; i--) if (this.inFlight[i]!.from === from) return i;
    return -1;
  }

  /** Delivers one in-flight message; `keepCopy` leaves it in the network to be delivered again. */
  deliver(pick: number, keepCopy: boolean): void {
    const index = pick % this.inFlight.length;
    const item = this.inFlight[index]!;
    if (!keepCopy) this.inFlight.splice(index, 1);
    const to = other(item.from);
    const before = this.sessions[to];
    const beforeBytes = encodeRatchetSession(before);
    const expected = this.expectation(before, to, item);
    let result: ReturnType<typeof ratchetDecrypt> | undefined;
    let refusal: string | undefined;
    try {
      result = ratchetDecrypt(before, item.message);
    } catch (error) {
      if (!(error instanceof RatchetError)) throw error;
      refusal = error.code;
    }
    assert.ok(equalBytes(encodeRatchetSession(before), beforeBytes), 'decryption changed the session it was given');
    if (result !== undefined) {
      assert.equal(expected, 'ok', `message ${item.id} opened, expected ${expected}`);
      assert.deepEqual(result.plaintext, item.plaintext);
      assert.ok(!this.opened.has(item.id), `message ${item.id} opened twice`);
      this.opened.add(item.id);
      this.recordDeletions(to, before, result.session, item.message);
      this.sessions[to] = result.session;
      this.stats.opened += 1;
      this.stats.maxSkippedStored = Math.max(this.stats.maxSkippedStored, result.session.skipped.size);
      assert.ok(result.session.skipped.size <= MAX_SKIPPED, 'more than MAX_SKIPPED keys stored');
      return;
    }
    if (expected === 'ok') assert.fail(`message ${item.id} refused with ${refusal}, expected to open`);
    if (expected === 'TOO_MANY_SKIPPED') {
      assert.equal(refusal, 'TOO_MANY_SKIPPED');
      this.stats.refusedGaps += 1;
    } else if (expected === 'replay') {
      this.stats.refusedReplays += 1;
    } else {
      this.stats.refusedDeletedKeys += 1;
    }
  }

  /** What the receiver must do with the message, from the model's knowledge of what it did before. */
  private expectation(receiver: RatchetSession, to: Side, item: InFlight): 'ok' | 'replay' | 'deleted' | 'TOO_MANY_SKIPPED' {
    if (this.opened.has(item.id)) return 'replay';
    const { dh, pn, n } = item.message.header;
    const id = skippedKeyId(dh, n);
    if (receiver.skipped.has(id)) return 'ok';
    if (this.deleted[to].has(id)) return 'deleted';
    const sameChain = receiver.receivingKey !== null && encodeBase64url(receiver.receivingKey) === encodeBase64url(dh);
    if (sameChain) return n > receiver.receiveCount + MAX_SKIP ? 'TOO_MANY_SKIPPED' : 'ok';
    return pn > receiver.receiveCount + MAX_SKIP || n > MAX_SKIP ? 'TOO_MANY_SKIPPED' : 'ok';
  }

  private recordDeletions(side: Side, before: RatchetSession, after: RatchetSession, used: RatchetMessage): void {
    const usedId = skippedKeyId(used.header.dh, used.header.n);
    for (const id of before.skipped.keys()) {
      if (id !== usedId && !after.skipped.has(id)) this.deleted[side].add(id);
    }
  }
}

const side = fc.constantFrom<Side>('A', 'B');

class Send implements fc.Command<object, Network> {
  constructor(readonly from: Side, readonly count: number) {}
  check = () => true;
  run(_: object, net: Network) {
    net.send(this.from, this.count);
  }
  toString = () => `send(${this.from}, ${this.count})`;
}

class Deliver implements fc.Command<object, Network> {
  constructor(readonly pick: number, readonly keepCopy: boolean) {}
  check = () => true;
  run(_: object, net: Network) {
    if (net.inFlight.length > 0) net.deliver(this.pick, this.keepCopy);
  }
  toString = () => `deliver(${this.pick}${this.keepCopy ? ', duplicate' : ''})`;
}

/** The newest message first: the way to skip many keys at once. */
class DeliverNewest implements fc.Command<object, Network> {
  constructor(readonly from: Side) {}
  check = () => true;
  run(_: object, net: Network) {
    const index = net.newestFrom(this.from);
    if (index >= 0) net.deliver(index, false);
  }
  toString = () => `deliverNewest(${this.from})`;
}

class Drop implements fc.Command<object, Network> {
  constructor(readonly pick: number) {}
  check = () => true;
  run(_: object, net: Network) {
    if (net.inFlight.length > 0) net.drop(this.pick);
  }
  toString = () => `drop(${this.pick})`;
}

/** Mostly small exchanges; now and then a burst long enough to exceed MAX_SKIP and fill the skipped-key store. */
const sends = (min: number, max: number) => fc.tuple(side, fc.integer({ min, max })).map(([from, count]) => new Send(from, count));
export const networkCommands = (maxCommands: number) => fc.commands([
  fc.oneof(
    { weight: 8, arbitrary: sends(1, 3) },
    { weight: 2, arbitrary: sends(4, 40) },
    { weight: 1, arbitrary: sends(240, 300) },
    { weight: 12, arbitrary: fc.tuple(fc.nat(), fc.boolean()).map(([pick, keepCopy]) => new Deliver(pick, keepCopy)) },
    { weight: 3, arbitrary: side.map((from) => new DeliverNewest(from)) },
    { weight: 2, arbitrary: fc.nat().map((pick) => new Drop(pick)) },
  ),
], { maxCommands, size: 'max' });

/** One run: a fresh pair of sessions, then the commands. */
export function runNetwork(commands: Iterable<fc.Command<object, Network>>, stats: NetworkStats): void {
  fc.modelRun(() => ({ model: {}, real: new Network(stats) }), commands);
}
