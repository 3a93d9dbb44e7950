import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KEYS_HEADER_MACROS, keysHeader, originalFirmwareWarnings, provisionPeers } from '../src/index.js';
import { cli, runCli } from './operator_cli.js';

const hasGcc = spawnSync('gcc', ['--version']).status === 0;
const M = KEYS_HEADER_MACROS;
const STRING_MACROS = [M.wireGuardPrivateKey, M.address, M.netmask, M.serverPublicKey, M.endpointHost, M.brokerUri, M.caCertificate, M.clientCertificate, M.clientKey, M.deploymentId];
const OPERATOR = { publicKey: Uint8Array.from({ length: 32 }, (_, i) => 255 - i), deploymentId: 'plant-7' };

/** Compiles a program that prints every macro of the header (NUL-separated) and returns the values. */
async function compileAndPrint(header: string): Promise<Map<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-keysh-'));
  await writeFile(join(dir, 'keys.h'), header);
  const source = [
    '#include <stdio.h>',
    '#include "keys.h"',
    // The original firmware uses the port as an integer.
    `_Static_assert(${M.endpointPort} > 0 && ${M.endpointPort} < 65536, "port is an integer");`,
    // The operator key as the firmware hands it to libxeddsa: 32 bytes.
    `static const unsigned char operator_key[32] = ${M.operatorPublicKey};`,
    'int main(void) {',
    ...STRING_MACROS.map((name) => `  fputs(${name}, stdout); putchar(0);`),
    `  printf("%d", ${M.endpointPort}); putchar(0);`,
    '  for (int i = 0; i < 32; i++) printf("%02x", operator_key[i]);',
    '  putchar(0);',
    '  return 0;',
    '}',
  ].join('\n');
  await writeFile(join(dir, 'main.c'), source);
  execFileSync('gcc', ['-fsyntax-only', '-std=c11', '-Wall', '-Wextra', '-Werror', '-I', dir, join(dir, 'main.c')]);
  execFileSync('gcc', ['-std=c11', '-Wall', '-Werror', '-I', dir, '-o', join(dir, 'print'), join(dir, 'main.c')]);
  const values = execFileSync(join(dir, 'print')).toString('utf8').split('\0');
  return new Map([...STRING_MACROS, M.endpointPort, M.operatorPublicKey].map((name, index) => [name, values[index]!]));
}

describe('firmware keys.h', () => {
  it('uses the original firmware macro names', () => {
    assert.deepEqual(
      [M.wireGuardPrivateKey, M.address, M.netmask, M.serverPublicKey, M.endpointHost, M.endpointPort, M.brokerUri, M.caCertificate],
      ['WG_PRIVATE_KEY', 'WG_LOCAL_IP_ADDR', 'WG_LOCAL_IP_NETMASK', 'WG_SERVER_PUB_KEY', 'WG_ENDPOINT_IP', 'WG_ENDPOINT_PORT', 'MQTT_BROKER_URI', 'MQTT_CA_CERT_PEM'],
    );
  });

  it('compiles, and every macro holds exactly the provisioned value', { skip: hasGcc ? false : 'gcc is not installed' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-fw-'));
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'device', 'alice', '-d', dir);
    const init = await cli('operator', 'init', '-d', dir, '--deployment-id', 'plant-7');
    await cli('wg', 'provision', 'alice', 'bob', '-d', dir, '--subnet', '10.8.0.0/16', '--endpoint', '198.18.0.1:30000');
    await cli('firmware', 'keys-h', 'bob', '-d', dir, '--broker-uri', 'mqtts://10.96.100.100:8883');
    const out = join(dir, 'alice-keys.h');
    const written = await cli('firmware', 'keys-h', 'alice', '-d', dir, '--broker-uri', 'mqtts://10.96.100.100:8883', '-o', out);
    assert.match(written, /warning: the original firmware uses 10\.13\.13\.1 as its tunnel gateway, but this VPN server is 10\.8\.0\.1/);
    assert.doesNotMatch(written, /routes only 10\.0\.0\.0\/8/);
    assert.equal((await stat(out)).mode & 0o777, 0o600);

    const registry = JSON.parse(await readFile(join(dir, 'wireguard', 'registry.json'), 'utf8'));
    const values = await compileAndPrint(await readFile(out, 'utf8'));
    assert.equal(values.get(M.wireGuardPrivateKey), registry.peers[0].privateKey);
    assert.equal(values.get(M.address), '10.8.0.2');
    assert.equal(values.get(M.netmask), '255.255.0.0');
    assert.equal(values.get(M.serverPublicKey), registry.server.publicKey);
    assert.equal(values.get(M.endpointHost), '198.18.0.1');
    assert.equal(values.get(M.endpointPort), '30000');
    assert.equal(values.get(M.brokerUri), 'mqtts://10.96.100.100:8883');
    assert.equal(values.get(M.caCertificate), await readFile(join(dir, 'pki', 'ca.crt'), 'utf8'));
    assert.equal(values.get(M.clientCertificate), await readFile(join(dir, 'pki', 'devices', 'alice.crt'), 'utf8'));
    assert.equal(values.get(M.clientKey), await readFile(join(dir, 'pki', 'devices', 'alice.key'), 'utf8'));
    // The operator key and deployment id of operator init, as it printed them.
    const publicKey = (await readFile(join(dir, 'operator', 'operator.pub'), 'utf8')).trim();
    assert.match(init, new RegExp(`operator public key: ${publicKey}\n`));
    assert.equal(values.get(M.operatorPublicKey), Buffer.from(publicKey, 'base64url').toString('hex'));
    assert.equal(values.get(M.deploymentId), 'plant-7');

    // bob has no certificate: his header has no client macros, and refuses to be overwritten.
    const bob = await readFile(join(dir, 'firmware', 'bob', 'keys.h'), 'utf8');
    assert.doesNotMatch(bob, /MQTT_CLIENT_/);
    const again = await runCli(['firmware', 'keys-h', 'bob', '-d', dir, '--broker-uri', 'mqtts://x:8883']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refusing to overwrite/);
    assert.equal(await readFile(join(dir, 'firmware', 'bob', 'keys.h'), 'utf8'), bob);
  });

  it('needs the operator key: without operator init, keys.h is not written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-fw-operator-'));
    await cli('pki', 'init', '-d', dir);
    await cli('wg', 'provision', 'alice', '-d', dir, '--subnet', '10.8.0.0/16', '--endpoint', '198.18.0.1:30000');
    const refused = await runCli(['firmware', 'keys-h', 'alice', '-d', dir, '--broker-uri', 'mqtts://10.96.100.100:8883']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /operator\.pub \(run "x3dh-ops operator init" first\)/);
    await assert.rejects(stat(join(dir, 'firmware', 'alice', 'keys.h')), { code: 'ENOENT' });
  });

  it('operator init writes the private key owner-only, prints the public key and deployment id, and replaces nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-operator-'));
    const out = join(dir, 'elsewhere');
    const printed = await cli('operator', 'init', '-d', dir, '--out', out);
    const privateKey = (await readFile(join(out, 'operator.key'), 'utf8')).trim();
    const publicKey = (await readFile(join(out, 'operator.pub'), 'utf8')).trim();
    const deploymentId = (await readFile(join(out, 'deployment-id'), 'utf8')).trim();
    assert.equal((await stat(join(out, 'operator.key'))).mode & 0o777, 0o600);
    assert.equal(Buffer.from(privateKey, 'base64url').length, 32);
    assert.match(deploymentId, /^[0-9a-f]{16}$/);
    // The public key is X25519 of the private key: what the key server derives from --operator-key.
    const derived = createPublicKey(createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: privateKey, x: publicKey }, format: 'jwk' }))
      .export({ format: 'jwk' }).x;
    assert.equal(derived, publicKey);
    assert.match(printed, new RegExp(`operator public key: ${publicKey}\n`));
    assert.match(printed, new RegExp(`deployment id: ${deploymentId}\n`));
    assert.match(printed, new RegExp(`x3dh-server --operator-key ${out}/operator.key --deployment-id ${deploymentId}`));
    const again = await runCli(['operator', 'init', '-d', dir, '--out', out]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refusing to overwrite/);
    assert.equal((await readFile(join(out, 'operator.key'), 'utf8')).trim(), privateKey);
    const bad = await runCli(['operator', 'init', '-d', dir, '--deployment-id', 'no spaces']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /deployment id is 1 to 64/);
  });

  it('refuses a broker URI the firmware cannot use, and writes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-fw-uri-'));
    await cli('pki', 'init', '-d', dir);
    await cli('operator', 'init', '-d', dir);
    await cli('wg', 'provision', 'alice', '-d', dir, '--subnet', '10.8.0.0/16', '--endpoint', '198.18.0.1:30000');
    for (const [uri, reason] of [['http://x', /must start with mqtts:\/\//], ['mqtt://10.0.0.1:1883', /must start with mqtts:\/\//], ['mqtts://h:8883/x3dh', /no path/], ['broker:8883', /must/]] as const) {
      const refused = await runCli(['firmware', 'keys-h', 'alice', '-d', dir, '--broker-uri', uri]);
      assert.notEqual(refused.code, 0, uri);
      assert.match(refused.stderr, /--broker-uri/);
      assert.match(refused.stderr, reason);
    }
    await assert.rejects(stat(join(dir, 'firmware', 'alice', 'keys.h')), { code: 'ENOENT' });
  });

  it('warns when the original firmware could not reach the broker', () => {
    const fits = provisionPeers(null, { endpoint: { host: '198.18.0.1', port: 30000 }, devices: ['d1'] }).registry;
    assert.deepEqual(originalFirmwareWarnings(fits, 'mqtts://10.96.100.100:8883'), []);
    assert.match(originalFirmwareWarnings(fits, 'mqtts://broker.example:8883').join(), /routes only 10\.0\.0\.0\/8 through the tunnel, but the broker is broker\.example/);
    assert.match(originalFirmwareWarnings(fits, 'mqtts://192.168.1.5:8883').join(), /but the broker is 192\.168\.1\.5/);
  });

  it('escapes any string into a C literal that compiles back to the same bytes', { skip: hasGcc ? false : 'gcc is not installed' }, async () => {
    const { registry } = provisionPeers(null, { endpoint: { host: 'vpn.example', port: 51820 }, devices: ['d1'] });
    const odd = 'mqtts://h:1/"quoted"\\back\\slash?\ttab\u00e9\u0001' + '7';
    const pem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const values = await compileAndPrint(
      keysHeader({ registry, peer: registry.peers[0]!, brokerUri: odd, caCertificatePem: pem, client: { certificatePem: pem, privateKeyPem: pem }, operator: OPERATOR }),
    );
    assert.equal(values.get(M.brokerUri), odd);
    assert.equal(values.get(M.operatorPublicKey), Buffer.from(OPERATOR.publicKey).toString('hex'));
    assert.equal(values.get(M.endpointHost), 'vpn.example');
  });
});
