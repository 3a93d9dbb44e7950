import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { readProcessStat } from '@x3dh-iot/process-lock';

/**
 * CPU time of every process on this machine, read from Linux's /proc: the load benchmark's
 * processes share the cores, so a protocol's cost is the CPU all of them spend per request, not
 * only the key server's.
 */

/** CPU ticks (user + system) and command name by pid. */
export type CpuSnapshot = Map<number, { name: string; ticks: number }>;

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Null where there is no /proc (not Linux). */
export function snapshotCpu(): CpuSnapshot | null {
  if (!fs.existsSync('/proc/self/stat')) return null;
  const snapshot: CpuSnapshot = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcessStat(entry);
    if (stat === null) continue; // ended meanwhile
    // utime and stime are fields 14 and 15.
    snapshot.set(Number(entry), { name: stat.name, ticks: Number(stat.fields[11]) + Number(stat.fields[12]) });
  }
  return snapshot;
}

/**
 * CPU seconds spent between two snapshots, summed per group; `groupOf` names a process's group
 * (processes that ended or started in between count for what the snapshots saw of them).
 */
export function cpuSecondsByGroup(
  before: CpuSnapshot, after: CpuSnapshot, groupOf: (pid: number, name: string) => string,
): Map<string, number> {
  const groups = new Map<string, number>();
  for (const [pid, now] of after) {
    const spent = (now.ticks - (before.get(pid)?.ticks ?? 0)) / clockTicks();
    if (spent <= 0) continue;
    const group = groupOf(pid, now.name);
    groups.set(group, (groups.get(group) ?? 0) + spent);
  }
  return groups;
}
