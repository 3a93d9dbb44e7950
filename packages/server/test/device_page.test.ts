import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { devicePageRoute } from '../src/ops/device_page.js';
import { startHttpEndpoints, type HttpEndpoints } from '../src/ops/http_endpoints.js';

let dir: string;
const provisioning = { deploymentId: 'x3dh-test', operatorPublicKey: 'AAAA' };
let http: HttpEndpoints;
const get = (url: string, init?: RequestInit) => fetch(`http://127.0.0.1:${http.port}${url}`, { redirect: 'manual', ...init });

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-device-page-'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>device</title>');
  fs.writeFileSync(path.join(dir, 'device.js'), 'export {};');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'not part of the page');
  http = await startHttpEndpoints('127.0.0.1', 0, new Registry(), async () => null,
    () => null, [devicePageRoute({ dir, brokerUrl: () => 'ws://127.0.0.1:1885/mqtt', provisioning })]);
});

after(async () => {
  await http.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('serves the page under /device with a strict Content-Security-Policy', async () => {
  const redirect = await get('/device');
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get('location'), '/device/');
  const page = await get('/device/');
  assert.equal(page.status, 200);
  assert.equal(await page.text(), '<!doctype html><title>device</title>');
  const csp = page.headers.get('content-security-policy')!;
  assert.match(csp, /default-src 'none'; script-src 'self'; style-src 'self';/);
  assert.match(csp, /connect-src 'self' wss: ws:\/\/127\.0\.0\.1:1885;/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal((await get('/device/device.js')).headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.deepEqual(await (await get('/device/settings.json')).json(), { brokerUrl: 'ws://127.0.0.1:1885/mqtt', ...provisioning });
  assert.equal((await get('/healthz')).status, 200, 'the other endpoints still answer');
});

test('answers only the files of the page, and only GET and HEAD', async () => {
  for (const url of ['/device/secret.txt', '/device/../package.json', '/device/%2e%2e/package.json', '/device/device.css', '/devices']) {
    assert.equal((await get(url)).status, 404, url);
  }
  assert.equal((await get('/device/', { method: 'POST', body: 'x' })).status, 405);
  const head = await get('/device/device.js', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
});

test('says how to build the page when it was not built', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-device-page-empty-'));
  const bare = await startHttpEndpoints('127.0.0.1', 0, new Registry(), async () => null, () => null, [devicePageRoute({ dir: empty, brokerUrl: () => undefined, provisioning })]);
  try {
    const response = await fetch(`http://127.0.0.1:${bare.port}/device/`);
    assert.equal(response.status, 404);
    assert.match(await response.text(), /npm run build -w @x3dh-iot\/web-device/);
  } finally {
    await bare.close();
    fs.rmSync(empty, { recursive: true, force: true });
  }
});
