import fs from 'node:fs';

/**
 * A process's line of Linux's /proc/<pid>/stat: its command name and the fields after it, so that
 * `fields[0]` is field 3 (state) of proc(5). Null where there is no /proc or no such process.
 */
export function readProcessStat(pid: number | string): { name: string; fields: string[] } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ...": comm may hold spaces and parentheses, so split at the last ")".
  const close = stat.lastIndexOf(')');
  return { name: stat.slice(stat.indexOf('(') + 1, close), fields: stat.slice(close + 2).split(' ') };
}

/** The pids of the live processes whose parent is `pid` (field 4 of /proc/<pid>/stat); empty without /proc. */
export function childProcesses(pid: number): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((name) => /^\d+$/.test(name)).map(Number)
    .filter((candidate) => Number(readProcessStat(candidate)?.fields[1]) === pid);
}
