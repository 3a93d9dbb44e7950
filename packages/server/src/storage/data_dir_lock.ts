import fs from 'node:fs';
import path from 'node:path';
import { LockHeldError, PidLock } from '@x3dh-iot/process-lock';

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string, readonly holderPid: number | null) {
    super(`data directory ${dataDir} is in use by another server (pid ${holderPid ?? '?'}); ` +
      'stop it first, or give this server its own --data-dir');
    this.name = 'DataDirLockedError';
  }
}

/**
 * Embedded PGlite has no lock of its own against a second process, and two processes writing one
 * directory corrupt it: the server holds `x3dh-server.lock` in the data directory.
 */
export function lockDataDir(dataDir: string): PidLock {
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    return PidLock.acquire(path.join(dataDir, 'x3dh-server.lock'));
  } catch (error) {
    if (error instanceof LockHeldError) throw new DataDirLockedError(dataDir, error.holderPid);
    throw error;
  }
}
