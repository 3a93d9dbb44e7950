import fs from 'node:fs';
import os from 'node:os';
import { processStart } from './process_start.js';

/** The lock is held by a live process (or one on another host, which cannot be checked). */
export class LockHeldError extends Error {
  constructor(readonly path: string, readonly holderPid: number | null, readonly holderHost: string | null) {
    super(`lock ${path} is held by process ${holderPid ?? '?'}${holderHost && holderHost !== os.hostname() ? ` on ${holderHost}` : ''}`);
    this.name = 'LockHeldError';
  }
}

interface Holder {
  pid: number | null;
  host: string | null;
  /** processStart of the holder when it took the lock; null in locks written without it. */
  start: string | null;
}

function readHolder(path: string): Holder | null {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const [pidText, host, start] = text.split('\n');
  const pid = Number(pidText?.trim());
  return { pid: Number.isSafeInteger(pid) && pid > 0 ? pid : null, host: host?.trim() || null, start: start?.trim() || null };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of a local holder that started at `start` now belongs to another process (the pid was reused). */
function isReused(pid: number, start: string | null): boolean {
  const now = processStart(pid);
  return start !== null && now !== null && now !== start;
}

/**
 * An exclusive lock: a file created with O_EXCL holding `pid\nhost\nstart` (start: when the
 * holder started, where /proc tells). A lock whose owner no longer runs on this host (killed with
 * SIGKILL, say), or whose pid now belongs to a later process, is taken over; one from another host
 * is never taken over, since its owner cannot be checked. The lock is released on close and at
 * process exit.
 *
 * Not proper-lockfile: it decides staleness by the lock's age, so a holder killed with SIGKILL keeps
 * the store locked until the stale time passes, and a live holder must keep touching the lock. Here a
 * dead or replaced holder is seen at once from its pid and start time, and a live one does nothing.
 */
export class PidLock {
  private released = false;
  private readonly releaseOnExit = () => this.release();

  private constructor(readonly path: string) {
    process.once('exit', this.releaseOnExit);
  }

  static acquire(path: string): PidLock {
    const claim = `${process.pid}\n${os.hostname()}\n${processStart(process.pid) ?? ''}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(path, claim, { flag: 'wx', mode: 0o600 });
        return new PidLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readHolder(path);
      if (holder === null) continue; // released meanwhile
      const local = holder.host === null || holder.host === os.hostname();
      const stale = local && (holder.pid === null || isReused(holder.pid, holder.start) ||
        (holder.pid !== process.pid && !isRunning(holder.pid)));
      if (!stale) throw new LockHeldError(path, holder.pid, holder.host);
      // Renamed before removal: of two processes taking over one stale lock, only the one whose
      // rename succeeds removes it; the other then meets the winner's fresh lock.
      const doomed = `${path}.stale-${process.pid}`;
      try {
        fs.renameSync(path, doomed);
        fs.rmSync(doomed, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    const holder = readHolder(path);
    throw new LockHeldError(path, holder?.pid ?? null, holder?.host ?? null);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.releaseOnExit);
    fs.rmSync(this.path, { force: true });
  }
}
