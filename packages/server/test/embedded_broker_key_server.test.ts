import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestCertificates, enrolV2Device, V2TestDevice, type TestCertificates, TEST_DEPLOYMENT_ID } from '@x3dh-iot/testkit';
import { createLogger, parseServerConfig, startKeyServer, type KeyServer } from '../src/index.js';
import { admin } from './support/admin_cli.js';

const quiet = () => createLogger(process.env.X3DH_TEST_LOG_LEVEL ?? 'fatal');

describe('key server on its embedded broker with client certificates and the embedded store', { timeout: 300_000 }, () => {
  let dir: string;
  let dataDir: string;
  let certificates: TestCertificates;
  let server: KeyServer | undefined;
  let token: string;
  const devices: V2TestDevice[] = [];
  const as = (name: string) => ({ ca: certificates.ca, cert: certificates.clients[name]!.cert, key: certificates.clients[name]!.key });
  const flags = () => ['--data-dir', dataDir, '--embedded-broker-port', '0', '--http-port', '0',
    '--embedded-broker-cert', certificates.server.certFile, '--embedded-broker-key', certificates.server.keyFile,
    '--embedded-broker-ca', certificates.caFile, '--no-open-enrolment'];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-embedded-server-'));
    dataDir = path.join(dir, 'data');
    certificates = createTestCertificates(path.join(dir, 'pki'), ['alice', 'bob', 'key-server']);
    // The operator issues a token before the first start.
    token = (await admin(['--data-dir', dataDir], 'token', 'issue', '--device', 'alice', '--expires-in', '1d')).trim();
    server = await startKeyServer(parseServerConfig(['--deployment-id', TEST_DEPLOYMENT_ID, ...flags(),
      '--broker-cert', certificates.clients['key-server']!.certFile, '--broker-key', certificates.clients['key-server']!.keyFile]), quiet());
  });
  after(async () => {
    await Promise.all(devices.map((device) => device.close()));
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('security-v2 item 3: a device enrols with the token the operator issued, once; another device cannot use it', async () => {
    const alice = await enrolV2Device({ name: 'alice', brokerUrl: server!.brokerUrl, ...as('alice'), token, oneTimePreKeys: 2 });
    devices.push(alice);
    const listed = await alice.request('directory.list');
    assert.deepEqual(listed, { ok: true, result: { devices: ['alice'] } });

    const bob = await V2TestDevice.connect({ name: 'bob', brokerUrl: server!.brokerUrl, ...as('bob') });
    devices.push(bob);
    const refused = await bob.enroll(token);
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error.code, 'enrolment_required');
  });

  it('takes operator commands on the embedded store through the server while it runs on it', async () => {
    const tokens = JSON.parse(await admin(['--data-dir', dataDir], 'token', 'list', '--json')) as { state: string; used_by: string }[];
    assert.deepEqual(tokens.map((row) => [row.state, row.used_by]), [['used', 'alice']]);
  });

  it('shows the token as used by the device once the server is stopped', async () => {
    await Promise.all(devices.splice(0).map((device) => device.close()));
    await server!.close();
    server = undefined;
    const tokens = JSON.parse(await admin(['--data-dir', dataDir], 'token', 'list', '--json')) as { state: string; used_by: string }[];
    assert.deepEqual(tokens.map((row) => [row.state, row.used_by]), [['used', 'alice']]);
  });

  it('refuses to start with --embedded-broker-ca when the server has no certificate of its own', async () => {
    await assert.rejects(startKeyServer(parseServerConfig(flags()), quiet()), /--broker-cert and --broker-key/);
  });
});
