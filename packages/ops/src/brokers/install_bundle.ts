import { execFileSync } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, readdir, rename, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Progress } from '../files/output_file.js';

/** The numeric ids of a system user (`id` reads them from whatever user database the host has). */
function systemUser(name: string): { uid: number; gid: number } {
  try {
    return {
      uid: Number(execFileSync('id', ['-u', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()),
      gid: Number(execFileSync('id', ['-g', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()),
    };
  } catch {
    throw new Error(`no system user ${JSON.stringify(name)} on this host (--broker-user names the user the broker runs as)`);
  }
}

/**
 * Copies a generated bundle into the directory the broker reads, each file replaced in one rename so
 * the broker never reads half a file. The broker drops to its own user before it reads keys, and
 * Mosquitto's security plugin writes its rules file back on every change, so the directory and files
 * belong to that user (when run as root; otherwise they stay the caller's).
 */
export async function installBundle(bundleDir: string, installDir: string, brokerUser: string, progress: Progress): Promise<void> {
  const owner = userInfo().uid === 0 ? systemUser(brokerUser) : null;
  await mkdir(installDir, { recursive: true, mode: 0o750 });
  await chmod(installDir, 0o750);
  if (owner) await chown(installDir, owner.uid, owner.gid);
  for (const name of (await readdir(bundleDir)).sort()) {
    const source = join(bundleDir, name);
    const target = join(installDir, name);
    const staged = `${target}.installing`;
    await copyFile(source, staged);
    await chmod(staged, (await stat(source)).mode & 0o777);
    if (owner) await chown(staged, owner.uid, owner.gid);
    await rename(staged, target);
    progress(`installed ${target}`);
  }
}
