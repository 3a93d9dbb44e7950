import assert from 'node:assert/strict';
import {
  asSharedKey, concatBytes, decodeRatchetSession, diffieHellman, encodeBase64url, encodeHeader, encodeRatchetSession,
  kdfChain, kdfRoot, keyPairFromPrivateKey, messageKeys, ratchetDecrypt, ratchetEncrypt, RatchetError, skippedKeyId,
  startInitiatorRatchet, startResponderRatchet, utf8, wireV2, type RatchetMessage, type RatchetSession,
} from '../src/index.js';
import { hex, toHex } from './vector_files.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- vector cases are untyped JSON */
type Case = Record<string, any>;

/** One side of a transcript: its session and how many keys of its list it has drawn. */
interface Party {
  session: RatchetSession;
  privs: string[];
  generated: number;
}

const orNull = (bytes: Uint8Array | null) => (bytes === null ? null : toHex(bytes));

function summary(party: Party) {
  const s = party.session;
  const oldest = s.skipped.values().next().value;
  return {
    root_key: toHex(s.rootKey),
    sending_chain_key: orNull(s.sendingChainKey),
    receiving_chain_key: orNull(s.receivingChainKey),
    dhs_pub: toHex(s.sendingKeyPair.publicKey),
    dhr_pub: orNull(s.receivingKey),
    ns: s.sendCount,
    nr: s.receiveCount,
    pn: s.previousSendCount,
    skipped_count: s.skipped.size,
    skipped_oldest: oldest === undefined ? null : { dh_pub: toHex(oldest.dh), n: oldest.n },
    keys_generated: party.generated,
  };
}

/** Every state also survives the storage codec unchanged. */
function keep(party: Party, session: RatchetSession): void {
  const stored = decodeRatchetSession(encodeRatchetSession(session));
  assert.deepEqual(stored, session, 'the session codec round-trips');
  party.session = session;
}

/**
 * Replays a ratchet.json transcript: every send and delivery, checking headers, AD, message keys,
 * AEAD key and nonce, ciphertexts, envelopes, DH ratchet steps, refusals and the state after each.
 */
export function checkRatchetCase(c: Case): void {
  const adFirst = hex(c.ad_first_hex);
  assert.equal(toHex(wireV2.initialAssociatedData(hex(c.ik_a_pub), hex(c.ik_b_pub), c.spk_id, c.opk_id, hex(c.ek_a_pub))), c.ad_first_hex);
  const aStartKey = keyPairFromPrivateKey(hex(c.a_ratchet_privs[0]));
  const start = { sharedKey: asSharedKey(hex(c.sk)), initiatorIdentityKey: hex(c.ik_a_pub), responderIdentityKey: hex(c.ik_b_pub) };
  const a: Party = {
    session: startInitiatorRatchet({ ...start, responderSignedPreKey: hex(c.spk_b_pub), ratchetKeyPair: aStartKey }),
    privs: c.a_ratchet_privs, generated: 1,
  };
  const b: Party = {
    session: startResponderRatchet({ ...start, signedPreKeyPair: keyPairFromPrivateKey(hex(c.spk_b_priv)) }),
    privs: c.b_ratchet_privs, generated: 0,
  };
  c.a_ratchet_privs.forEach((priv: string, i: number) => assert.equal(toHex(keyPairFromPrivateKey(hex(priv)).publicKey), c.a_ratchet_pubs[i]));
  c.b_ratchet_privs.forEach((priv: string, i: number) => assert.equal(toHex(keyPairFromPrivateKey(hex(priv)).publicKey), c.b_ratchet_pubs[i]));
  assert.equal(toHex(b.session.sendingKeyPair.publicKey), c.spk_b_pub);
  assert.equal(toHex(a.session.associatedData), c.ad_session_hex);
  const init = c.initiator_start;
  assert.equal(toHex(a.session.sendingKeyPair.publicKey), init.dhs_pub);
  assert.equal(toHex(diffieHellman(aStartKey.privateKey, hex(c.spk_b_pub))), init.dh_out);
  assert.equal(toHex(a.session.rootKey), init.root_key);
  assert.equal(orNull(a.session.sendingChainKey), init.sending_chain_key);

  const party = (name: string) => (name === 'A' ? a : b);
  const sent: RatchetMessage[] = [];
  for (const e of c.events as Case[]) {
    const where = `step ${e.step}`;
    if (e.type === 'send') {
      const sender = party(e.sender);
      const first = e.envelope === 'x3dh.initial';
      const chain = kdfChain(sender.session.sendingChainKey!);
      const { session, message } = ratchetEncrypt(sender.session, hex(e.plaintext_hex), { firstMessageAd: first ? adFirst : undefined });
      assert.equal(toHex(message.header.dh), e.dh_pub, where);
      assert.equal(encodeBase64url(message.header.dh), e.dh_b64, where);
      assert.deepEqual([message.header.pn, message.header.n], [e.pn, e.n], where);
      assert.equal(toHex(encodeHeader(message.header)), e.header_hex, where);
      assert.equal(toHex(concatBytes(first ? adFirst : sender.session.associatedData, encodeHeader(message.header))), e.ad_hex, where);
      assert.equal(toHex(chain.messageKey), e.message_key, where);
      const aead = messageKeys(chain.messageKey);
      assert.deepEqual([toHex(aead.key), toHex(aead.nonce)], [e.aead_key, e.aead_nonce], where);
      assert.equal(toHex(message.ciphertext), e.ciphertext_hex, where);
      assert.equal(encodeBase64url(message.ciphertext), e.ciphertext_b64, where);
      if (first) {
        assert.equal(e.session_envelope, null, where);
      } else {
        assert.equal(utf8.decode(wireV2.encodeRatchetSessionEnvelope(message)), e.session_envelope, where);
        const decoded = wireV2.decodeSessionEnvelope(utf8.encode(e.session_envelope));
        assert.deepEqual(decoded, { ok: true, value: { version: 2, message } }, where);
      }
      assert.equal(utf8.decode(hex(e.plaintext_hex)), e.plaintext, where);
      sent[e.msg] = message;
      keep(sender, session);
      assert.deepEqual(summary(sender), e.sender_after, where);
    } else if (e.type === 'send_undelivered') {
      const sender = party(e.sender);
      for (let i = 0; i < e.count; i++) {
        const { session, message } = ratchetEncrypt(sender.session, utf8.encode(`undelivered ${i}`));
        assert.equal(message.header.n, e.first_n + i, where);
        sender.session = session;
      }
      assert.equal(sender.session.sendCount - 1, e.last_n, where);
      keep(sender, sender.session);
      assert.deepEqual(summary(sender), e.sender_after, where);
    } else if (e.type === 'deliver') {
      const receiver = party(e.receiver);
      const original = sent[e.msg]!;
      const ciphertext = original.ciphertext.slice();
      if (e.tamper !== null) {
        ciphertext[e.tamper.ciphertext_byte]! ^= e.tamper.xor;
        assert.equal(toHex(ciphertext), e.delivered_ciphertext_hex, where);
      }
      const message = { header: original.header, ciphertext };
      const before = receiver.session;
      const beforeSummary = summary(receiver);
      const beforeBytes = encodeRatchetSession(before);
      const options = {
        firstMessageAd: e.envelope === 'x3dh.initial' ? adFirst : undefined,
        generateKeyPair: () => keyPairFromPrivateKey(hex(receiver.privs[receiver.generated]!)),
      };
      if (e.expect === 'ok') {
        const usedSkipped = before.skipped.has(skippedKeyId(message.header.dh, message.header.n));
        const { session, plaintext } = ratchetDecrypt(before, message, options);
        assert.equal(toHex(plaintext), e.plaintext_hex, where);
        assert.equal(usedSkipped, e.used_skipped_key, where);
        const stepped = session.sendingKeyPair !== before.sendingKeyPair;
        assert.equal(stepped, e.dh_ratchet !== null, where);
        if (stepped) {
          const d = e.dh_ratchet;
          const dhRecv = diffieHellman(before.sendingKeyPair.privateKey, message.header.dh);
          const mid = kdfRoot(before.rootKey, dhRecv);
          assert.deepEqual([toHex(dhRecv), toHex(mid.rootKey), toHex(mid.chainKey)], [d.dh_recv, d.root_key_mid, d.receiving_chain_key], where);
          assert.equal(toHex(session.sendingKeyPair.publicKey), d.new_dhs_pub, where);
          const dhSend = diffieHellman(session.sendingKeyPair.privateKey, message.header.dh);
          const next = kdfRoot(mid.rootKey, dhSend);
          assert.deepEqual([toHex(dhSend), toHex(next.rootKey), toHex(next.chainKey)], [d.dh_send, d.root_key, d.sending_chain_key], where);
          assert.deepEqual([toHex(session.rootKey), orNull(session.sendingChainKey)], [d.root_key, d.sending_chain_key], where);
          receiver.generated += 1;
        }
        keep(receiver, session);
      } else {
        assert.throws(() => ratchetDecrypt(before, message, options), (error) => error instanceof RatchetError && error.code === e.expect, where);
        assert.deepEqual(encodeRatchetSession(before), beforeBytes, `${where}: the refused message changed nothing`);
      }
      assert.deepEqual(encodeRatchetSession(before), beforeBytes, `${where}: the session passed in is never changed`);
      assert.deepEqual(summary(receiver), e.receiver_after, where);
      assert.equal(JSON.stringify(summary(receiver)) === JSON.stringify(beforeSummary), e.state_unchanged, where);
    } else {
      assert.fail(`unknown ratchet event type ${e.type}`);
    }
  }
}
