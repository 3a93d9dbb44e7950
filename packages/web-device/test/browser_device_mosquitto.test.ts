import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MqttV2Link, type SecureDevice } from '@x3dh-iot/device';
import { createTestDatabase, hasChromium, launchChromium, startServer, type ServerProcess, type TestDatabase } from '@x3dh-iot/testkit';
import { operatorCommand } from '../../device/test/support/key_server.js';
import { hasMosquitto } from '../../ops/test/mosquitto_process.js';
import { buildDevicePage } from '../scripts/build.js';
import { BrowserDevice, chatBothWays, enrolNodePeer } from './support/browser_device.js';
import { startMosquittoDeployment, type MosquittoDeployment } from './support/mosquitto_deployment.js';

/*
 * Production setup: PostgreSQL, Mosquitto from the x3dh-ops bundle (TLS 1.3, client certificates,
 * per-device rules) with its WebSocket listener; the browser presents the device's client
 * certificate (Playwright's clientCertificates, as a user's installed certificate would be).
 */
const skip = !hasChromium() ? 'chromium is not installed' : !hasMosquitto ? 'mosquitto is not installed' : false;
let database: TestDatabase;
let broker: MosquittoDeployment;
let server: ServerProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let nodeDevice: SecureDevice;

before(async () => {
  if (skip) return;
  await buildDevicePage();
  database = await createTestDatabase('x3dh_web_device');
  broker = await startMosquittoDeployment(['web-alice', 'node-bob', 'web-mallory']);
  server = await startServer({
    v1: false,
    args: ['--broker-url', broker.serverUrl, '--broker-ca', broker.ca, '--broker-cert', broker.serverFiles.certFile, '--broker-key', broker.serverFiles.keyFile,
      '--database-url', database.url, '--http-port', '0', '--device-page-broker-url', broker.webSocketUrl],
  });
  browser = await launchChromium();
}, { timeout: 180_000 });

after(async () => {
  await nodeDevice?.close();
  await browser?.close();
  await server?.stop();
  await broker?.stop();
  await database?.drop();
});

const token = async () => (await operatorCommand(['--database-url', database.url], ['token', 'issue'])).trim();

test('a browser device with its client certificate chats with a Node device through Mosquitto over wss:// (PostgreSQL)', { skip, timeout: 180_000 }, async () => {
  // Trusting the test CA is the browser's business (a user installs it); Playwright's certificate
  // proxy checks the broker's certificate with the system's CAs, so it is told not to.
  const context = await browser.newContext({
    clientCertificates: [{ origin: broker.webSocketOrigin, ...pathsOf(broker.deviceFiles('web-alice')) }], ignoreHTTPSErrors: true,
  });
  const page = await context.newPage();
  const web = new BrowserDevice(page);
  await page.goto(`http://127.0.0.1:${server.httpPort}/device/`);
  await web.unlock('correct horse battery');
  await web.status(/enrol this device/);
  assert.equal(await page.inputValue('#broker-url'), broker.webSocketUrl);
  await web.enrol('web-alice', await token());

  const settings = { brokerUrl: broker.deviceUrl, caFile: broker.ca, ...broker.deviceFiles('node-bob'), timeoutMs: 20_000 };
  nodeDevice = await enrolNodePeer(server, 'node-bob', await token(), (name) => new MqttV2Link(settings, name));
  await chatBothWays(web, nodeDevice, ['hello over wss', 'hello, browser', 'second message']);
  await web.screenshot('browser-device-mosquitto');
  await context.close();
});

test('a browser with another device\'s certificate cannot enrol under a name that is not its own (per-device rules on the WebSocket listener)', { skip, timeout: 120_000 }, async () => {
  const context = await browser.newContext({
    clientCertificates: [{ origin: broker.webSocketOrigin, ...pathsOf(broker.deviceFiles('web-mallory')) }], ignoreHTTPSErrors: true,
  });
  const page = await context.newPage();
  const web = new BrowserDevice(page);
  await page.goto(`http://127.0.0.1:${server.httpPort}/device/`);
  await web.unlock('another passphrase');
  await web.status(/enrol this device/);
  await page.fill('#device-name', 'node-carol');
  await page.fill('#token', await token());
  await page.click('#enrol-form button');
  await web.status(/not authori[sz]ed|refused/i);
  await context.close();
});

const pathsOf = (files: { certFile: string; keyFile: string }) => ({ certPath: files.certFile, keyPath: files.keyFile });
