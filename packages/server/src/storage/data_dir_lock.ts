import fs from 'node:fs';
import path from 'node:path';
import { OWNER_ONLY_DIR_MODE } from './owner_only.js';
import { LockHeldError, PidLock } from '@x3dh-iot/process-lock';

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string, readonly holderPid: number | null) {
    super(`data directory ${dataDir} is in use by another server (pid ${holderPid ?? '?'}); ` +
      'stop it first, or give this server its own --data-dir');
    this.name = 'DataDirLockedError';
  }
}

/**
 * One server per data directory: the server holds `x3dh-server.lock` in it while it runs its
 * embedded PostgreSQL there, so that a second server or an operator command never starts another
 * postmaster on the cluster nor mistakes the running one for a leftover.
 */
export function lockDataDir(dataDir: string): PidLock {
  // Owner-only: it holds the key directory, the mailbox and the operator socket.
  fs.mkdirSync(dataDir, { recursive: true, mode: OWNER_ONLY_DIR_MODE });
  fs.chmodSync(dataDir, OWNER_ONLY_DIR_MODE);
  try {
    return PidLock.acquire(path.join(dataDir, 'x3dh-server.lock'));
  } catch (error) {
    if (error instanceof LockHeldError) throw new DataDirLockedError(dataDir, error.holderPid);
    throw error;
  }
}
