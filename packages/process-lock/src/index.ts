export { LockHeldError, PidLock } from './pid_lock.js';
export { childProcesses, readProcessStat } from './proc_stat.js';
