import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MqttV2Link, type SecureDevice } from '@x3dh-iot/device';
import { hasChromium, launchChromium, startServer, type ServerProcess } from '@x3dh-iot/testkit';
import { operatorCommand } from '../../device/test/support/key_server.js';
import { buildDevicePage } from '../scripts/build.js';
import { BrowserDevice, chatBothWays, enrolNodePeer } from './support/browser_device.js';

/*
 * The key server on its embedded defaults (PGlite, the embedded broker without TLS on loopback)
 * with the embedded broker's WebSocket listener on; a browser device and a Node device talk.
 */
const skip = hasChromium() ? false : 'chromium is not installed';
let dataDir: string;
let server: ServerProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let nodeDevice: SecureDevice;

before(async () => {
  await buildDevicePage();
  dataDir = fs.mkdtempSync(path.join(tmpdir(), 'x3dh-web-device-'));
  server = await startServer({ v1: false, args: ['--data-dir', dataDir, '--embedded-broker-port', '0', '--embedded-broker-ws-port', '0', '--http-port', '0'] });
  browser = await launchChromium();
}, { timeout: 120_000 });

after(async () => {
  await nodeDevice?.close();
  await browser?.close();
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const token = async () => (await operatorCommand(['--data-dir', dataDir], ['token', 'issue'])).trim();

test('a browser device enrols over ws://, shakes hands and chats both ways with a Node device (embedded defaults)', { skip, timeout: 180_000 }, async () => {
  const webSocketUrl = server.logs.find((line) => typeof line.webSocketUrl === 'string')?.webSocketUrl;
  assert.match(String(webSocketUrl), /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
  const context = await browser.newContext();
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => message.type() === 'error' && pageErrors.push(message.text()));
  const web = new BrowserDevice(page);

  const response = await page.goto(`http://127.0.0.1:${server.httpPort}/device`);
  assert.match(response!.headers()['content-security-policy']!, /script-src 'self';/);
  await web.unlock('correct horse battery');
  await web.status(/enrol this device/);
  assert.equal(await page.inputValue('#broker-url'), webSocketUrl, 'the page proposes the embedded broker');
  await web.enrol('web-alice', await token());

  nodeDevice = await enrolNodePeer(server, 'node-bob', await token(), (name) => new MqttV2Link({ brokerUrl: server.brokerUrl, timeoutMs: 20_000 }, name));
  // The first message carries the X3DH handshake; the answer and the next go through the ratchet.
  await chatBothWays(web, nodeDevice, ['hello from the browser', 'hello, browser', 'ratchet works']);
  await web.screenshot('browser-device-embedded');

  // The keys are in IndexedDB, sealed: only the KDF, the IV and the ciphertext are stored.
  const stored = await page.evaluate(() => new Promise<string>((resolve, reject) => {
    const open = indexedDB.open('x3dh-device');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction('records').objectStore('records').get('state');
      get.onsuccess = () => resolve(JSON.stringify(get.result));
    };
  }));
  assert.deepEqual(Object.keys(JSON.parse(stored) as object).sort(), ['ciphertext', 'iv', 'kdf']);
  assert.doesNotMatch(stored, /web-alice|identityPrivateKey/);

  // A reload asks for the passphrase again: a wrong one opens nothing, the right one the same device.
  await page.reload();
  await web.unlock('wrong passphrase');
  await web.status(/wrong passphrase/);
  await web.unlock('correct horse battery');
  await web.status(/Unlocked web-alice/);
  await nodeDevice.send('web-alice', 'after the reload');
  await web.choosePeer('node-bob');
  await web.received('after the reload');
  assert.deepEqual(pageErrors.filter((message) => !/wrong passphrase/.test(message)), []);
  await context.close();
});
