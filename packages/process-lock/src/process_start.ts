import fs from 'node:fs';
import { readProcessStat } from './proc_stat.js';

let bootId: string | null | undefined;

/**
 * When the process with this pid started, as "<boot id>:<start time in clock ticks since boot>"
 * from Linux's /proc: a pid can be reused by a later process, its start can not. Null where there
 * is no /proc or no such process.
 */
export function processStart(pid: number): string | null {
  try {
    bootId ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // Start time is field 22.
    const startTicks = readProcessStat(pid)?.fields[19];
    return startTicks === undefined ? null : `${bootId}:${startTicks}`;
  } catch {
    bootId ??= null;
    return null;
  }
}
