import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string, readonly holderPid: number) {
    super(`data directory ${dataDir} is in use by another server (pid ${holderPid}); ` +
      'stop it first, or give this server its own --data-dir');
    this.name = 'DataDirLockedError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock on a data directory: a lock file created with O_EXCL that holds the owner's
 * pid. Embedded PGlite has no lock of its own, and two processes writing one directory corrupt it.
 * A lock left by a killed server (its pid no longer alive on this host) is taken over.
 */
export class DataDirLock {
  private constructor(private readonly file: string) {}

  static acquire(dataDir: string): DataDirLock {
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, 'x3dh-server.lock');
    const claim = `${process.pid}\n${os.hostname()}\n`;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        fs.writeFileSync(file, claim, { flag: 'wx' });
        return new DataDirLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const [pidText, host] = fs.readFileSync(file, 'utf8').split('\n');
      const pid = Number(pidText);
      const stale = host === os.hostname() && Number.isInteger(pid) && pid > 0 && !isAlive(pid);
      if (!stale) throw new DataDirLockedError(dataDir, pid);
      // Rename before removing, so that of two servers racing to take over one stale lock, only
      // the one whose rename succeeds removes it; the other then meets the winner's fresh lock.
      const doomed = `${file}.stale-${process.pid}`;
      try {
        fs.renameSync(file, doomed);
        fs.rmSync(doomed);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    const holder = Number(fs.readFileSync(file, 'utf8').split('\n')[0]);
    throw new DataDirLockedError(dataDir, holder);
  }

  release(): void {
    fs.rmSync(this.file, { force: true });
  }
}
