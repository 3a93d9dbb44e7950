export { LockHeldError, PidLock } from './pid_lock.js';
export { readProcessStat } from './proc_stat.js';
