import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { launchChromium } from '../src/index.js';

test('the system Chromium renders a page served on loopback and runs its script', async () => {
  const server = http.createServer((_request, response) => {
    response.setHeader('content-type', 'text/html');
    response.end('<!doctype html><p id="out">static</p><script>document.getElementById("out").textContent = "scripted"</script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    assert.equal(await page.textContent('#out'), 'scripted');
  } finally {
    await browser.close();
    server.close();
  }
});
