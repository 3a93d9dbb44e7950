import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { DeviceError } from './errors.js';

/**
 * An exclusive lock beside the key store, so two processes never interleave their read-modify-write
 * cycles. The file holds the owner's pid; a lock left by a process that no longer runs (killed with
 * SIGKILL, say) is taken over.
 */
export class StoreLock {
  private released = false;
  private readonly releaseOnExit = () => this.release();

  private constructor(readonly path: string) {
    process.once('exit', this.releaseOnExit);
  }

  static acquire(path: string): StoreLock {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return new StoreLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = readOwner(path);
      if (owner !== null && owner !== process.pid && isRunning(owner)) {
        throw new DeviceError('KEY_STORE', `key store is in use by process ${owner} (lock ${path})`);
      }
      removeIfPresent(path);
    }
    throw new DeviceError('KEY_STORE', `cannot take the key store lock ${path}`);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.releaseOnExit);
    removeIfPresent(this.path);
  }
}

function readOwner(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
