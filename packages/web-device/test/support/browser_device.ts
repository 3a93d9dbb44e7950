import assert from 'node:assert/strict';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryKeyStore, SecureDevice, type V2LinkFactory } from '@x3dh-iot/device';
import { decodeBase64url, wireV2 } from '@x3dh-iot/protocol';
import type { launchChromium, ServerProcess } from '@x3dh-iot/testkit';

type Page = Awaited<ReturnType<Awaited<ReturnType<typeof launchChromium>>['newPage']>>;

/** Screenshots of the test runs (gitignored), for a person to look at. */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-output/', import.meta.url));

const WAIT_MS = 30_000;

/** The device page driven as a person would: type, click, read the status line. */
export class BrowserDevice {
  constructor(readonly page: Page) {}

  async status(expected: RegExp): Promise<void> {
    await this.page.locator('#status', { hasText: expected }).waitFor({ timeout: WAIT_MS });
  }

  async unlock(passphrase: string): Promise<void> {
    await this.page.fill('#passphrase', passphrase);
    await this.page.click('#unlock-form button');
  }

  async enrol(name: string, token: string | null): Promise<void> {
    await this.page.fill('#device-name', name);
    if (token !== null) await this.page.fill('#token', token);
    await this.page.click('#enrol-form button');
    await this.status(new RegExp(`Enrolled ${name}`));
  }

  async choosePeer(peer: string): Promise<void> {
    await this.page.click('#refresh-peers');
    await this.page.locator('#peers button', { hasText: peer }).click({ timeout: WAIT_MS });
  }

  async send(text: string): Promise<void> {
    await this.page.fill('#text', text);
    await this.page.click('#send');
    await this.page.locator('#log li.out', { hasText: text }).waitFor({ timeout: WAIT_MS });
  }

  async received(text: string): Promise<void> {
    await this.page.locator('#log li.in', { hasText: text }).waitFor({ timeout: WAIT_MS });
  }

  async safetyNumber(): Promise<string> {
    await this.page.click('#safety');
    await this.status(/Safety number with/);
    return (await this.page.textContent('#safety-number')) ?? '';
  }

  /** Saves a full-page screenshot and checks that it is a non-empty PNG. */
  async screenshot(name: string): Promise<string> {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    const path = join(SCREENSHOT_DIR, `${name}.png`);
    await this.page.screenshot({ path, fullPage: true });
    assert.ok((await stat(path)).size > 1000, `${path} is not empty`);
    return path;
  }
}

/** The next texts a Node device accepts (handshake or message), in arrival order. */
export function nextTexts(device: SecureDevice, count: number): Promise<{ kind: string; peer: string; text: string }[]> {
  const texts: { kind: string; peer: string; text: string }[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${texts.length} of ${count} texts: ${JSON.stringify(texts)}`)), WAIT_MS);
    const take = () => void device.takeUnread().then((unread) => {
      texts.push(...unread);
      if (texts.length >= count) {
        clearTimeout(timer);
        device.off('unread', take);
        resolve(texts);
      }
    }, reject);
    device.on('unread', take);
    take();
  });
}

/** A Node device enrolled under `name`, provisioned as the page is (the server's deployment id and operator key), its prekeys published, listening. */
export async function enrolNodePeer(server: ServerProcess, name: string, token: string, links: V2LinkFactory): Promise<SecureDevice> {
  const device = await SecureDevice.open(new MemoryKeyStore(), links, {
    client: { timeoutMs: 20_000 },
    provisioning: { deploymentId: server.deploymentId, operatorKey: decodeBase64url(server.operatorPublicKey, 'operator key') },
  });
  await device.setUsername(name);
  await device.registerIdentity({ token });
  await device.publishBundle();
  device.listen();
  return device;
}

/**
 * The browser device `web-alice` writes first (the X3DH handshake), the Node peer answers and the
 * browser writes again (both through the ratchet); both then show the same safety number.
 */
export async function chatBothWays(web: BrowserDevice, node: SecureDevice, [first, answer, second]: [string, string, string]): Promise<void> {
  await web.choosePeer(node.username!);
  const handshake = nextTexts(node, 1);
  await web.send(first);
  assert.deepEqual(await handshake, [{ kind: 'handshake', peer: 'web-alice', text: first }]);
  await node.send('web-alice', answer);
  await web.received(answer);
  const next = nextTexts(node, 1);
  await web.send(second);
  assert.deepEqual(await next, [{ kind: 'message', peer: 'web-alice', text: second }]);
  assert.equal(await web.safetyNumber(), wireV2.formatSafetyNumber((await node.safetyNumber('web-alice')).safetyNumber), 'both sides show the same safety number');
}
