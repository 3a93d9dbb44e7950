import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { wireV1 } from '@x3dh-iot/protocol';
import { closeV1Device, connectV1Device, createTestCertificates, requestJson, startMosquitto } from '@x3dh-iot/testkit';
import { createLogger, parseServerConfig, startKeyServer } from '../src/index.js';

/** Connects with TLS 1.2 at most: "connected", or the error that refused it. */
function connectTls12(port: number, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, maxVersion: 'TLSv1.2' },
      () => { socket.destroy(); resolve('connected'); });
    socket.once('error', (error) => resolve(error.message));
  });
}

test('the test Mosquitto serves TLS 1.3 only, with a certificate valid for 127.0.0.1', { timeout: 30_000 }, async () => {
  const broker = await startMosquitto({ tls: true });
  try {
    assert.notEqual(await connectTls12(broker.port, broker.certificates!.ca), 'connected');
    const device = await connectV1Device(broker.url, { ca: broker.certificates!.ca });
    await closeV1Device(device);
  } finally {
    await broker.stop();
  }
});

test('the embedded broker with a certificate serves TLS 1.3 only', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-embedded-tls-'));
  const certificates = createTestCertificates(path.join(dir, 'certs'));
  const server = await startKeyServer(parseServerConfig([
    '--data-dir', path.join(dir, 'data'), '--embedded-broker-port', '0', '--http-port', '0', '--enable-v1',
    '--embedded-broker-cert', certificates.server.certFile, '--embedded-broker-key', certificates.server.keyFile,
    '--broker-ca', certificates.caFile,
  ]), createLogger('warn'));
  try {
    assert.match(server.brokerUrl, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const device = await connectV1Device(server.brokerUrl, { ca: certificates.ca });
    try {
      assert.deepEqual(await requestJson(device, wireV1.V1_TOPICS.users), { users: [] });
    } finally {
      await closeV1Device(device);
    }
    assert.notEqual(await connectTls12(Number(new URL(server.brokerUrl).port), certificates.ca), 'connected');
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
