import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger, parseServerConfig, startKeyServer, type KeyServer } from '../src/index.js';

/** Every directory and regular file under `dir` (itself included) whose mode gives group or others any access. */
function openToOthers(dir: string): string[] {
  const found: string[] = [];
  const visit = (entry: string) => {
    const stat = fs.lstatSync(entry);
    if ((stat.isDirectory() || stat.isFile()) && (stat.mode & 0o077) !== 0) found.push(`${(stat.mode & 0o777).toString(8)} ${path.relative(dir, entry) || '.'}`);
    if (stat.isDirectory()) for (const name of fs.readdirSync(entry)) visit(path.join(entry, name));
  };
  visit(dir);
  return found;
}

describe('embedded data directory', { timeout: 180_000 }, () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-modes-'));
  const dataDir = path.join(parent, 'fresh', 'data');
  let server: KeyServer;
  before(async () => {
    server = await startKeyServer(parseServerConfig(['--data-dir', dataDir, '--embedded-broker-port', '0', '--http-port', '0']), createLogger('fatal'));
  });
  after(async () => {
    await server?.close();
    fs.rmSync(parent, { recursive: true, force: true });
  });

  it('attack: after a fresh start no file or directory of the embedded store is readable or writable by other users', () => {
    const store = path.join(dataDir, 'postgres');
    assert.ok(fs.existsSync(path.join(store, 'global', 'pg_control')));
    assert.deepEqual(openToOthers(dataDir), []);
    assert.equal(fs.statSync(path.join(parent, 'fresh')).mode & 0o777, 0o700);
  });
});
