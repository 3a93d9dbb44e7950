import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { PostgresBinaries } from './postgres_binaries.js';

/** Where a root server keeps a copy of the binaries for the `postgres` user: root's, kept across reboots. */
const COPIES_DIR = '/var/tmp';

/** Whether `user` may run the program: every directory above it searchable, the file executable. */
function runsAs(program: string, user: { uid: number; gid: number }): boolean {
  const result = spawnSync(program, ['--version'], { ...user, stdio: 'ignore', timeout: 30_000 });
  return result.error === undefined && result.status === 0;
}

/** A directory that only root could have made and filled: a real directory, root's, writable by root alone. */
function isRootsOwn(dir: string): boolean {
  const stat = fs.lstatSync(dir);
  return stat.isDirectory() && stat.uid === 0 && (stat.mode & 0o022) === 0;
}

/**
 * The binaries as the cluster's user can run them. Installed under a directory only root may
 * enter (a root home directory is 0700), they are copied once per version to a root-owned
 * directory in /var/tmp: PostgreSQL finds its libraries and share directory next to its own
 * program, so a path that the user can walk is needed for the whole tree.
 */
export function binariesForUser(binaries: PostgresBinaries, user: { uid: number; gid: number }): PostgresBinaries {
  if (runsAs(binaries.postgres, user)) return binaries;
  const native = path.dirname(path.dirname(binaries.postgres));
  const { version } = JSON.parse(fs.readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const copy = path.join(COPIES_DIR, `x3dh-iot-postgres-${version}`);
  if (!fs.existsSync(copy)) {
    // Filled under a private name, then renamed: a copy under the final name is always complete.
    const building = fs.mkdtempSync(`${copy}.`);
    fs.cpSync(native, building, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(building, 0o755);
    try {
      fs.renameSync(building, copy);
    } catch (error) {
      // Another server made it meanwhile.
      fs.rmSync(building, { recursive: true, force: true });
      if (!fs.existsSync(copy)) throw error;
    }
  }
  if (!isRootsOwn(copy)) throw new Error(`${copy} is not root's own directory: remove it`);
  const inCopy = (program: string) => path.join(copy, path.relative(native, program));
  return { initdb: inCopy(binaries.initdb), postgres: inCopy(binaries.postgres) };
}
