import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

/**
 * The published form of the project: every public package packed by `npm pack` and installed into an
 * empty folder, where its commands and its library entry points must work without the repository.
 */

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const PUBLIC_PACKAGES = ['console', 'process-lock', 'protocol', 'transport', 'device', 'ops', 'web-device', 'server'];
const work = mkdtempSync(join(tmpdir(), 'x3dh-pack-'));
const app = join(work, 'app');

before(async () => {
  // `npm ci` builds the packages (the root `prepare` script); build here when that was skipped.
  const builtFile = (p: string) => ({ 'web-device': 'page/index.html', console: 'index.html' }[p] ?? 'index.js');
  if (PUBLIC_PACKAGES.some((p) => !existsSync(join(root, 'packages', p, 'dist', builtFile(p))))) {
    await run('npm', ['run', 'build'], { cwd: root });
  }
  await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work, ...PUBLIC_PACKAGES.flatMap((p) => ['--workspace', `packages/${p}`])], { cwd: root });
  const tarballs = readdirSync(work).filter((f) => f.endsWith('.tgz')).map((f) => join(work, f));
  assert.equal(tarballs.length, PUBLIC_PACKAGES.length);
  rmSync(app, { recursive: true, force: true });
  await run('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'empty-app', private: true, type: 'module' }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], { cwd: app, timeout: 300_000 });
}, { timeout: 600_000 });

after(() => rmSync(work, { recursive: true, force: true }));

for (const command of ['x3dh-device', 'x3dh-server', 'x3dh-ops']) {
  test(`the installed ${command} command runs`, async () => {
    const { stdout } = await run(join(app, 'node_modules', '.bin', command), ['--help'], { cwd: app });
    assert.match(stdout, /Usage:/);
  });
}

test('the installed libraries load from their built entry points', async () => {
  const script = `
    import { generateKeyPair, xeddsaSign, xeddsaVerify } from '@x3dh-iot/protocol';
    import * as device from '@x3dh-iot/device';
    const keys = generateKeyPair();
    const message = new TextEncoder().encode('installed');
    if (!xeddsaVerify(keys.publicKey, message, xeddsaSign(keys.privateKey, message))) throw new Error('signature');
    if (typeof device.openSecureDevice !== 'function') throw new Error('device library');
    console.log('ok');`;
  const { stdout } = await run('node', ['--input-type=module', '-e', script], { cwd: app });
  assert.equal(stdout.trim(), 'ok');
});
