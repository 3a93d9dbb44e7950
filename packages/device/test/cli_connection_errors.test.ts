import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestCertificates, startMosquitto, TEST_DEPLOYMENT_ID, type MosquittoBroker } from '@x3dh-iot/testkit';
import { runCli, runCliJson } from './support/run_cli.js';

/** A device provisioned for the test deployment, so that its requests get as far as the broker. */
const PROVISIONED = { X3DH_DEPLOYMENT_ID: TEST_DEPLOYMENT_ID };

const scratch = mkdtempSync(join(tmpdir(), 'x3dh-device-connection-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const tempDir = () => mkdtempSync(join(scratch, 'case-'));

/**
 * What a user sees when the connection settings are wrong: one line naming the setting or file and
 * what to do, exit code 2 for settings, 5 for a broker or server that cannot be reached; no OpenSSL
 * text alone, no stack.
 */
describe('connection errors name the setting to fix', () => {
  let broker: MosquittoBroker;
  before(async () => {
    const dir = tempDir();
    // Mosquitto drops root for its own user, which must be able to read the rules.
    chmodSync(scratch, 0o755);
    chmodSync(dir, 0o755);
    const acl = join(dir, 'acl');
    // Per-device rules as the generated configurations have them: a certificate publishes only under its own name.
    writeFileSync(acl, 'pattern write x3dh/v2/req/%u/#\npattern read x3dh/v2/resp/%u\npattern read x3dh/v2/push/%u\n', { mode: 0o644 });
    broker = await startMosquitto({
      requireClientCertificate: true, clientNames: ['alice', 'bob'],
      extraConfig: `use_identity_as_username true\nacl_file ${acl}\n`,
    });
  });
  after(() => broker.stop());

  /** `register alice` (it creates the store, then connects) with these settings; the parsed JSON error and stderr. */
  async function register(t: { name: string }, settings: Record<string, string | undefined>, expectedCode: number) {
    const store = join(tempDir(), 'alice.json');
    const env = Object.fromEntries(Object.entries({ X3DH_STORE: store, X3DH_BROKER_URL: broker.url, X3DH_TIMEOUT_MS: '1500', ...PROVISIONED, ...settings })
      .filter((entry): entry is [string, string] => entry[1] !== undefined));
    const result = await runCli(['register', 'alice', '--json'], env);
    assert.equal(result.code, expectedCode, `${t.name}: ${result.stdout}${result.stderr}`);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    return { error: (JSON.parse(result.stdout) as { error: { kind: string; message: string } }).error, stderr: result.stderr };
  }

  test('no client certificate: the broker requires one', async (t) => {
    const { error } = await register(t, { X3DH_CA_FILE: broker.certificates!.caFile }, 2);
    assert.match(error.message, /requires a client certificate: give --cert and --key/);
  });

  test('the broker\'s certificate does not chain to the given CA, or no CA is given', async (t) => {
    const other = createTestCertificates(tempDir());
    const alice = broker.certificates!.clients.alice!;
    const wrongCa = await register(t, { X3DH_CA_FILE: other.caFile, X3DH_CERT_FILE: alice.certFile, X3DH_KEY_FILE: alice.keyFile }, 2);
    assert.match(wrongCa.error.message, new RegExp(`presented a certificate not signed by the CA in ${other.caFile}`));
    const noCa = await register(t, { X3DH_CERT_FILE: alice.certFile, X3DH_KEY_FILE: alice.keyFile }, 2);
    assert.match(noCa.error.message, /not signed by a CA this system trusts \(give the deployment's CA with --ca\)/);
  });

  test('files that are not what they should be are named', async (t) => {
    const dir = tempDir();
    const alice = broker.certificates!.clients.alice!;
    const bob = broker.certificates!.clients.bob!;
    const notPem = join(dir, 'ca.der');
    writeFileSync(notPem, 'this is not a certificate');
    const ca = broker.certificates!.caFile;
    const badCa = await register(t, { X3DH_CA_FILE: notPem, X3DH_CERT_FILE: alice.certFile, X3DH_KEY_FILE: alice.keyFile }, 2);
    assert.equal(badCa.error.message, `the CA file ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    const mismatch = await register(t, { X3DH_CA_FILE: ca, X3DH_CERT_FILE: alice.certFile, X3DH_KEY_FILE: bob.keyFile }, 2);
    assert.equal(mismatch.error.message, `the client key file ${bob.keyFile} does not belong to the certificate ${alice.certFile}`);
    const alone = await register(t, { X3DH_CA_FILE: ca, X3DH_CERT_FILE: alice.certFile }, 2);
    assert.match(alone.error.message, /give both --cert and --key/);
    const missing = await register(t, { X3DH_CA_FILE: join(dir, 'nope.pem') }, 2);
    assert.match(missing.error.message, /cannot read the CA file .*nope\.pem/);
  });

  test('another device\'s certificate: the broker refuses the request, and the hint says whose certificate is needed', async (t) => {
    const bob = broker.certificates!.clients.bob!;
    const { error } = await register(t, { X3DH_CA_FILE: broker.certificates!.caFile, X3DH_CERT_FILE: bob.certFile, X3DH_KEY_FILE: bob.keyFile }, 2);
    assert.match(error.message, /not authorized\): the client certificate \(--cert, --key\) must be alice's own \(its common name must be alice\)/);
  });

  test('broker up, key server down: progress is shown while the request is sent again, then unreachable (exit 5)', async (t) => {
    const alice = broker.certificates!.clients.alice!;
    const { error, stderr } = await register(t, { X3DH_CA_FILE: broker.certificates!.caFile, X3DH_CERT_FILE: alice.certFile, X3DH_KEY_FILE: alice.keyFile, X3DH_TIMEOUT_MS: '500' }, 5);
    assert.match(stderr, /Waiting for the key server: enroll: no answer within 0\.5 s; sending it again \(attempt 2 of 3\)/);
    assert.match(stderr, /attempt 3 of 3/);
    assert.match(error.message, /no answer from the server to enroll/);
  });
});

test('nothing listening at the broker address: unreachable (exit 5), saying what to check', async () => {
  const store = join(tempDir(), 'alice.json');
  const result = await runCliJson(['register', 'alice'], { X3DH_STORE: store, X3DH_BROKER_URL: 'mqtt://127.0.0.1:9', X3DH_TIMEOUT_MS: '1000', ...PROVISIONED }, 5);
  assert.match((result.error as { message: string }).message, /nothing accepts connections at 127\.0\.0\.1:9: is the broker running/);
});
