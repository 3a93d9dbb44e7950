import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  aeadDecrypt, aeadEncrypt, createInitialMessage, decodeBase64url, diffieHellman, ed25519Verify,
  encodeBase64url, EncodingError, keyPairFromPrivateKey, montgomeryToEdwards, openInitialMessage, utf8,
  wireV1, x25519PublicKey, x3dhKdf, x3dhRespond, xeddsaNonceScalar, xeddsaSign, xeddsaSignWith, xeddsaSigningKey, xeddsaVerify,
} from '../src/index.js';
import { checkRatchetCase } from './ratchet_vector_case.js';
import { hex, loadVectorFiles, toHex, vectorsDir, type VectorFile } from './vector_files.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- vector cases are untyped JSON */
type Case = Record<string, any>;

const b64 = (bytes: Uint8Array) => encodeBase64url(bytes);

function mustParse<S extends Parameters<typeof wireV1.parseV1>[0]>(schema: S, json: unknown) {
  const parsed = wireV1.parseV1(schema, JSON.stringify(json));
  if (!parsed.ok) assert.fail(parsed.error);
  return parsed.value;
}

const checkers: Record<string, (c: Case) => void> = {
  base64(c) {
    if (c.decode_ok) {
      assert.equal(toHex(decodeBase64url(c.input)), c.decoded);
      assert.equal(b64(hex(c.decoded)), c.input, 'the accepted encoding is the canonical one');
    } else {
      assert.throws(() => decodeBase64url(c.input), EncodingError);
    }
  },

  xeddsa(c) {
    if (c.kind === 'sign') {
      const priv = hex(c.x25519_priv);
      const msg = hex(c.msg);
      assert.equal(toHex(x25519PublicKey(priv)), c.x25519_pub);
      const key = xeddsaSigningKey(priv);
      assert.equal(key.negated, c.negated);
      assert.equal(toHex(key.scalar), c.signing_key);
      assert.equal(toHex(key.publicKey), c.ed25519_pub);
      assert.equal(toHex(montgomeryToEdwards(hex(c.x25519_pub), 0)), c.ed25519_pub);
      assert.equal(toHex(xeddsaNonceScalar(key.scalar, msg, hex(c.nonce))), c.r_scalar);
      assert.equal(toHex(xeddsaSign(priv, msg, hex(c.nonce))), c.signature);
      assert.equal(toHex(xeddsaSignWith(key, msg, hex(c.nonce))), c.signature, 'with the signing key derived beforehand');
      assert.equal(xeddsaVerify(hex(c.x25519_pub), msg, hex(c.signature)), c.verify_ok);
    } else if (c.kind === 'verify') {
      const msg = hex(c.msg);
      const sig = hex(c.signature);
      if (c.x25519_pub !== null) {
        assert.equal(toHex(montgomeryToEdwards(hex(c.x25519_pub), c.ed25519_sign_bit ? 1 : 0)), c.ed25519_pub);
        if (!c.ed25519_sign_bit) assert.equal(xeddsaVerify(hex(c.x25519_pub), msg, sig), c.verify_ok);
      }
      assert.equal(ed25519Verify(hex(c.ed25519_pub), msg, sig), c.verify_ok);
    } else if (c.kind === 'pub_conversion') {
      assert.equal(toHex(montgomeryToEdwards(hex(c.x25519_pub), c.ed25519_sign_bit ? 1 : 0)), c.ed25519_pub);
    } else {
      assert.fail(`unknown xeddsa case kind ${c.kind}`);
    }
  },

  bundle(c) {
    const ikPriv = hex(c.ik_priv);
    assert.equal(toHex(x25519PublicKey(ikPriv)), c.ik_pub);
    assert.equal(toHex(montgomeryToEdwards(hex(c.ik_pub))), c.ik_ed25519_pub);
    assert.equal(toHex(x25519PublicKey(hex(c.spk_priv))), c.spk_pub);
    const key = xeddsaSigningKey(ikPriv);
    assert.equal(key.negated, c.signing_key_negated);
    assert.equal(toHex(key.scalar), c.spk_signing_key);
    const sig = xeddsaSign(ikPriv, hex(c.spk_pub), hex(c.spk_sig_nonce));
    assert.equal(toHex(sig), c.spk_sig);
    assert.equal(xeddsaVerify(hex(c.ik_pub), hex(c.spk_pub), sig), c.spk_sig_verify_ok);
    const opks = c.opks.map((o: Case) => {
      assert.equal(toHex(x25519PublicKey(hex(o.priv))), o.pub);
      assert.equal(b64(hex(o.pub)), o.pub_b64);
      assert.equal(wireV1.oneTimePreKeyNvsName(o.id), o.nvs_key);
      return { id: o.id as number, publicKey: hex(o.pub) };
    });
    assert.equal(c.register_ik_topic, wireV1.V1_TOPICS.registerIdentity);
    assert.equal(wireV1.registerIdentityPayload(c.username, hex(c.ik_pub)), c.register_ik_payload);
    assert.equal(c.register_bundle_topic, wireV1.V1_TOPICS.registerBundle);
    const payload = wireV1.registerBundlePayload(c.username, hex(c.spk_pub), sig, opks);
    assert.equal(payload, c.register_bundle_payload);
    const parsed = mustParse(wireV1.registerBundleRequest, JSON.parse(c.register_bundle_payload));
    assert.equal(toHex(parsed.spk_b64), c.spk_pub);
    assert.deepEqual(parsed.opks_b64.map((o) => o.id), opks.map((o: { id: number }) => o.id));
  },

  x3dh(c) {
    const bobIk = keyPairFromPrivateKey(hex(c.bob_ik_priv));
    const aliceIk = keyPairFromPrivateKey(hex(c.alice_ik_priv));
    const aliceEk = keyPairFromPrivateKey(hex(c.alice_ek_priv));
    assert.equal(toHex(bobIk.publicKey), c.bob_ik_pub);
    assert.equal(toHex(aliceIk.publicKey), c.alice_ik_pub);
    assert.equal(toHex(aliceEk.publicKey), c.alice_ek_pub);
    assert.equal(toHex(x25519PublicKey(hex(c.bob_spk_priv))), c.bob_spk_pub);
    assert.equal(toHex(montgomeryToEdwards(bobIk.publicKey)), c.bob_ik_ed25519_pub);
    assert.equal(toHex(xeddsaSigningKey(bobIk.privateKey).scalar), c.bob_spk_signing_key);
    assert.equal(toHex(xeddsaSign(bobIk.privateKey, hex(c.bob_spk_pub), hex(c.bob_spk_sig_nonce))), c.bob_spk_sig);
    assert.equal(xeddsaVerify(bobIk.publicKey, hex(c.bob_spk_pub), hex(c.bob_spk_sig)), c.bob_spk_sig_verify_ok);

    const dhs = [
      diffieHellman(aliceIk.privateKey, hex(c.bob_spk_pub)),
      diffieHellman(aliceEk.privateKey, bobIk.publicKey),
      diffieHellman(aliceEk.privateKey, hex(c.bob_spk_pub)),
    ];
    if (c.with_opk) dhs.push(diffieHellman(aliceEk.privateKey, hex(c.bob_opk_pub)));
    assert.deepEqual(dhs.map(toHex), [c.dh1, c.dh2, c.dh3, c.dh4].filter((d) => d !== null));
    assert.equal(toHex(new Uint8Array(Buffer.concat([hex('ff'.repeat(32)), ...dhs]))), c.kdf_input);
    assert.equal(toHex(x3dhKdf(dhs)), c.sk);

    // Initiator: from the server's bundle response, as the firmware parses it.
    const bundle = wireV1.bundleFromResponse(mustParse(wireV1.bundleResponse, c.bundle_response));
    assert.equal(bundle.oneTimePreKey !== undefined, c.with_opk);
    const { secrets, message } = createInitialMessage(aliceIk, bundle, hex(c.plaintext_hex), {
      ephemeral: aliceEk, nonce: hex(c.nonce),
    });
    assert.equal(toHex(secrets.sharedKey), c.sk);
    assert.equal(toHex(secrets.associatedData), c.ad);
    assert.equal(toHex(message.ciphertext), c.ciphertext);
    assert.equal(message.oneTimePreKeyId ?? -1, c.opk_id);
    assert.equal(c.init_topic, wireV1.V1_TOPICS.initialMessage);
    const payload = wireV1.initialMessagePayload(c.bob_username, c.alice_username, message, secrets.associatedData);
    assert.equal(payload, c.init_payload);
    assert.deepEqual(JSON.parse(payload), JSON.parse(c.init_payload), 'field by field');
    const request = mustParse(wireV1.initialMessageRequest, JSON.parse(c.init_payload));
    assert.equal(toHex(request.ciphertext_b64), c.ciphertext);

    // Responder: from the server's inbox response.
    const inbox = wireV1.initialMessageFromInbox(mustParse(wireV1.inboxResponse, c.inbox_response));
    assert.equal(inbox.from, c.alice_username);
    const keys = {
      identity: bobIk,
      signedPreKey: hex(c.bob_spk_priv),
      oneTimePreKey: c.with_opk ? hex(c.bob_opk_priv) : undefined,
    };
    const opened = openInitialMessage(keys, inbox.message, { carriedAssociatedData: inbox.carriedAssociatedData });
    assert.equal(toHex(opened.secrets.sharedKey) === c.sk, c.responder_sk_matches);
    assert.equal(toHex(opened.plaintext), c.plaintext_hex);
    assert.equal(c.responder_decrypt_ok, true);
    assert.equal(toHex(x3dhRespond(keys, aliceIk.publicKey, aliceEk.publicKey).sharedKey), c.sk);
    assert.equal(wireV1.sessionKeyNvsName(c.bob_username), c.alice_sk_nvs_key);
    assert.equal(wireV1.sessionKeyNvsName(c.alice_username), c.bob_sk_nvs_key);
  },

  chat(c) {
    const ciphertext = aeadEncrypt(hex(c.sk), hex(c.nonce), hex(c.plaintext_hex));
    assert.equal(toHex(ciphertext), c.ciphertext);
    assert.equal(utf8.decode(aeadDecrypt(hex(c.sk), hex(c.nonce), ciphertext)), c.plaintext);
    assert.equal(c.decrypt_ok, true);
    assert.equal(c.chat_topic, wireV1.V1_TOPICS.chatSend);
    const payload = wireV1.chatSendPayload(c.from, c.to, ciphertext, hex(c.nonce));
    assert.equal(payload, c.chat_payload);
    const parsed = mustParse(wireV1.chatSendRequest, JSON.parse(c.chat_payload));
    assert.equal(toHex(parsed.ciphertext_b64), c.ciphertext);
  },

  ratchet: checkRatchetCase,
};

describe(`test vectors in ${vectorsDir}`, () => {
  const files = loadVectorFiles();
  test('the directory holds vector files', () => assert.ok(files.length > 0));
  for (const file of files) {
    describe(file.name, () => {
      test('is a known vector kind', () => assert.ok(checkers[file.name], `no checker for ${file.name}.json`));
      const check = checkers[file.name];
      if (!check) return;
      test('has cases', () => assert.ok(file.cases.length > 0));
      for (const c of (file as VectorFile).cases) test(String(c['id']), () => check(c));
    });
  }
});
