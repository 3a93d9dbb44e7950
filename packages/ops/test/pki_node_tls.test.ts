import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { cli, runCli } from './operator_cli.js';

interface Pair {
  cert: string;
  key: string;
}

let dir: string;
let ca: string;
let broker: Pair;
let alice: Pair;
let server: tls.Server;
let port: number;
let seenPeers: string[];

async function pair(certPath: string): Promise<Pair> {
  return { cert: await readFile(join(dir, certPath), 'utf8'), key: await readFile(join(dir, certPath.replace(/\.crt$/, '.key')), 'utf8') };
}

/** A TLS 1.3 handshake against the test server; resolves the negotiated protocol or rejects. */
function handshake(options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, ...options }, () => {
      const protocol = socket.getProtocol() ?? '';
      // TLS 1.3 reports a refused client certificate after the handshake: wait for the server's verdict.
      socket.once('data', () => {
        socket.end();
        resolve(protocol);
      });
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the server answered')));
  });
}

describe('certificates with Node TLS', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-pki-'));
    await cli('pki', 'init', '-d', dir, '--name', 'Test CA');
    await cli('pki', 'broker', '-d', dir, '--dns', 'localhost', '--dns', 'broker.x3dh.svc', '--ip', '127.0.0.1', '--ip', '::1');
    await cli('pki', 'server-client', '-d', dir);
    await cli('pki', 'device', 'alice', 'bob', '-d', dir);
    ca = await readFile(join(dir, 'pki', 'ca.crt'), 'utf8');
    broker = await pair('pki/broker.crt');
    alice = await pair('pki/devices/alice.crt');
    seenPeers = [];
    server = tls.createServer({ ...broker, ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (socket) => {
      seenPeers.push(socket.getPeerCertificate().subject.CN as string);
      socket.end('ok');
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => server.close());

  it('writes P-256 certificates that name their subject, with private keys readable by the owner only', async () => {
    const cert = new X509Certificate(alice.cert);
    assert.equal(cert.subject, 'CN=alice');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(cert.verify(new X509Certificate(ca).publicKey));
    assert.ok(new X509Certificate(ca).ca);
    assert.ok(!cert.ca);
    const brokerCert = new X509Certificate(broker.cert);
    assert.equal(brokerCert.subjectAltName, 'DNS:localhost, DNS:broker.x3dh.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(brokerCert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(new X509Certificate(await readFile(join(dir, 'pki', 'server-client.crt'))).subject, 'CN=x3dh-server');
    for (const key of ['ca.key', 'broker.key', 'server-client.key', 'devices/alice.key', 'devices/bob.key']) {
      assert.equal((await stat(join(dir, 'pki', key))).mode & 0o777, 0o600, key);
    }
    for (const cert of ['ca.crt', 'broker.crt', 'devices/alice.crt']) {
      assert.equal((await stat(join(dir, 'pki', cert))).mode & 0o777, 0o644, cert);
    }
    for (const sub of ['', 'pki', 'pki/devices']) assert.equal((await stat(join(dir, sub))).mode & 0o777, 0o700, `directory ${sub || '.'}`);
    assert.equal(await readFile(join(dir, '.gitignore'), 'utf8'), '*\n', 'the operator directory keeps itself out of git');
  });

  it('completes a TLS 1.3 handshake by IP address with mutual certificate verification', async () => {
    assert.equal(await handshake({ ...alice }), 'TLSv1.3');
    assert.equal(await handshake({ ...alice, servername: 'localhost' }), 'TLSv1.3');
    assert.equal(seenPeers.at(-1), 'alice');
  });

  it('is refused without a client certificate, with a foreign CA, or with TLS 1.2', async () => {
    await assert.rejects(handshake({}));
    const other = await mkdtemp(join(tmpdir(), 'x3dh-ops-pki-other-'));
    await cli('pki', 'init', '-d', other);
    await cli('pki', 'device', 'alice', '-d', other);
    const foreign = { cert: await readFile(join(other, 'pki', 'devices', 'alice.crt'), 'utf8'), key: await readFile(join(other, 'pki', 'devices', 'alice.key'), 'utf8') };
    await assert.rejects(handshake(foreign));
    // The client does not trust a broker certificate from another CA either.
    await assert.rejects(handshake({ ...alice, ca: await readFile(join(other, 'pki', 'ca.crt'), 'utf8') }), /certificate/);
    await assert.rejects(handshake({ ...alice, maxVersion: 'TLSv1.2' }));
  });

  it('refuses to overwrite keys without --force and replaces them with it', async () => {
    const before = await readFile(join(dir, 'pki', 'devices', 'alice.key'), 'utf8');
    const refused = await runCli(['pki', 'device', 'alice', 'carol', '-d', dir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to overwrite .*alice\.crt/);
    assert.equal(await readFile(join(dir, 'pki', 'devices', 'alice.key'), 'utf8'), before);
    await assert.rejects(stat(join(dir, 'pki', 'devices', 'carol.crt')), 'nothing of a refused run is written');
    await cli('pki', 'device', 'alice', '-d', dir, '--force');
    assert.notEqual(await readFile(join(dir, 'pki', 'devices', 'alice.key'), 'utf8'), before);
  });

  it('revokes devices into a CRL that TLS servers honour', async () => {
    await cli('pki', 'device', 'carol', 'dave', '-d', dir);
    const carol = await pair('pki/devices/carol.crt');
    const serials = [new X509Certificate(carol.cert).serialNumber, new X509Certificate(await readFile(join(dir, 'pki', 'devices', 'dave.crt'))).serialNumber];
    await cli('pki', 'revoke', 'carol', '--certificate-only', '-d', dir);
    await cli('pki', 'revoke', 'dave', '--certificate-only', '-d', dir);
    const crlPem = await readFile(join(dir, 'pki', 'ca.crl'), 'utf8');
    assert.match(crlPem, /^-----BEGIN X509 CRL-----$/m);
    const crl = new x509.X509Crl(crlPem);
    assert.ok(await crl.verify({ publicKey: await new x509.X509Certificate(ca).publicKey.export() }));
    assert.deepEqual(crl.entries.map((entry) => entry.serialNumber.toUpperCase()).sort(), serials.sort(), 'every revocation stays listed');
    await assert.rejects(stat(join(dir, 'pki', 'devices', 'carol.key')));
    await assert.rejects(runCli(['pki', 'revoke', 'carol', '--certificate-only', '-d', dir]).then((result) => (result.code === 0 ? undefined : Promise.reject(new Error(result.stderr)))), /carol has no certificate to revoke/);

    const guarded = tls.createServer({ ...broker, ca, crl: crlPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (socket) => socket.end('ok'));
    guarded.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => guarded.listen(0, '127.0.0.1', resolve));
    const guardedPort = (guarded.address() as AddressInfo).port;
    try {
      const attempt = (identity: Pair) => new Promise<void>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: guardedPort, ca, ...identity }, () => socket.once('data', () => (socket.end(), resolve())));
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('closed')));
      });
      await attempt(alice);
      await assert.rejects(attempt(carol));
    } finally {
      guarded.close();
    }
  });

  it('refuses device names that are reserved or unsafe as topic levels', async () => {
    for (const name of ['x3dh-server', 'a/b', 'a+b', '#', 'with space', '..', 'x'.repeat(65)]) {
      const result = await runCli(['pki', 'device', '-d', dir, '--', name]);
      assert.equal(result.code, 1, name);
      assert.match(result.stderr, /invalid device name/);
    }
  });
});
