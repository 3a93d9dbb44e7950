import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { build } from 'esbuild';
import { loadVectorFiles } from './vector_files.js';

/*
 * The protocol core must run in browsers: bundle it as a browser bundler would (browser condition,
 * no Node built-ins) and run it in a bare V8 context that has only what a page has.
 */
test('browser bundle builds without Node built-ins and reproduces the vectors', async () => {
  const entry = join(dirname(fileURLToPath(import.meta.url)), '../src/index.ts');
  const result = await build({
    entryPoints: [entry], bundle: true, write: false, platform: 'browser', format: 'iife',
    globalName: 'X3dhProtocol', conditions: ['browser', 'source'], logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.text;
  assert.doesNotMatch(code, /sodium-native|require\(["']node:/);

  const x3dh = loadVectorFiles().find((f) => f.name === 'x3dh');
  assert.ok(x3dh, 'x3dh vectors present');
  const context = vm.createContext({ crypto: webcrypto, TextEncoder, TextDecoder, VECTORS: JSON.stringify(x3dh.cases) });
  vm.runInContext(code, context);
  const outcome = vm.runInContext(`(() => {
    const P = X3dhProtocol;
    const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
    const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const results = [];
    for (const c of JSON.parse(VECTORS)) {
      const bob = P.keyPairFromPrivateKey(hex(c.bob_ik_priv));
      const sig = P.xeddsaSign(bob.privateKey, hex(c.bob_spk_pub), hex(c.bob_spk_sig_nonce));
      const bundle = P.wireV1.bundleFromResponse(P.wireV1.parseV1(P.wireV1.bundleResponse, JSON.stringify(c.bundle_response)).value);
      const { secrets, message } = P.createInitialMessage(P.keyPairFromPrivateKey(hex(c.alice_ik_priv)), bundle,
        hex(c.plaintext_hex), { ephemeral: P.keyPairFromPrivateKey(hex(c.alice_ek_priv)), nonce: hex(c.nonce) });
      results.push({ sig: toHex(sig) === c.bob_spk_sig, sk: toHex(secrets.sharedKey) === c.sk,
        ct: toHex(message.ciphertext) === c.ciphertext, backend: P.activeBackend.name });
    }
    return JSON.stringify(results);
  })()`, context) as string;
  const results = JSON.parse(outcome) as { sig: boolean; sk: boolean; ct: boolean; backend: string }[];
  assert.equal(results.length, x3dh.cases.length);
  for (const r of results) assert.deepEqual(r, { sig: true, sk: true, ct: true, backend: 'noble' });
});
