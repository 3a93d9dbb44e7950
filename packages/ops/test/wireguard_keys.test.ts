import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { clampPrivateKey, generateWireGuardKeyPair, wireGuardPublicKey } from '../src/index.js';

const hasWg = spawnSync('wg', ['--version']).status === 0;

describe('WireGuard keys', () => {
  it('derives the RFC 7748 public key from its private key', () => {
    // RFC 7748 section 6.1, Alice; X25519 clamps, so the unclamped scalar gives the same public key.
    const privateKey = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64');
    const expected = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex').toString('base64');
    assert.equal(wireGuardPublicKey(privateKey), expected);
  });

  it('generates clamped private keys like wg genkey', () => {
    for (let i = 0; i < 50; i += 1) {
      const raw = Buffer.from(generateWireGuardKeyPair().privateKey, 'base64');
      assert.equal(raw.length, 32);
      assert.equal(raw[0]! & 7, 0);
      assert.equal(raw[31]! & 0x80, 0);
      assert.equal(raw[31]! & 0x40, 0x40);
    }
    assert.deepEqual(clampPrivateKey(Buffer.alloc(32, 0xff)), Buffer.concat([Buffer.from([0xf8]), Buffer.alloc(30, 0xff), Buffer.from([0x7f])]));
  });

  it('rejects keys that are not 32 bytes of canonical base64', () => {
    assert.throws(() => wireGuardPublicKey('AAAA'), /base64 WireGuard key/);
    assert.throws(() => wireGuardPublicKey(`${'A'.repeat(43)}`), /base64 WireGuard key/);
  });

  it('agrees with wg pubkey', { skip: hasWg ? false : 'wg (wireguard-tools) is not installed' }, () => {
    for (let i = 0; i < 20; i += 1) {
      const pair = generateWireGuardKeyPair();
      assert.equal(execFileSync('wg', ['pubkey'], { input: `${pair.privateKey}\n` }).toString().trim(), pair.publicKey);
    }
  });

  it('derives the same public key as wg from wg genkey output', { skip: hasWg ? false : 'wg (wireguard-tools) is not installed' }, () => {
    const privateKey = execFileSync('wg', ['genkey']).toString().trim();
    assert.equal(wireGuardPublicKey(privateKey), execFileSync('wg', ['pubkey'], { input: `${privateKey}\n` }).toString().trim());
  });
});
