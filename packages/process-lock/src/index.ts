export { LockHeldError, PidLock } from './pid_lock.js';
