import { LockHeldError, PidLock } from '@x3dh-iot/process-lock';
import { DeviceError } from './errors.js';

/** An exclusive lock beside the key store, so two processes never interleave their read-modify-write cycles. */
export function lockStore(path: string): PidLock {
  try {
    return PidLock.acquire(path);
  } catch (error) {
    if (error instanceof LockHeldError) {
      throw new DeviceError('KEY_STORE', `key store is in use by process ${error.holderPid ?? '?'} (lock ${path})`);
    }
    throw error;
  }
}
