import Table from 'cli-table3';

/** How operator commands print: aligned columns for people, one JSON document with --json. */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints a header and rows as left-aligned columns without borders; "-" stands for an empty cell. */
export function printTable(header: readonly string[], rows: readonly (readonly (string | null | undefined)[])[]): void {
  const table = new Table({
    head: [...header],
    chars: Object.fromEntries(BORDER_CHARACTERS.map((name) => [name, ''])),
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2 },
  });
  for (const row of rows) table.push(row.map((cell) => (cell === null || cell === undefined || cell === '' ? '-' : cell)));
  const lines = table.toString().split('\n').map((line) => line.trimEnd());
  process.stdout.write(`${lines.join('\n')}\n`);
}

const BORDER_CHARACTERS = [
  'top', 'top-mid', 'top-left', 'top-right', 'bottom', 'bottom-mid', 'bottom-left', 'bottom-right',
  'left', 'left-mid', 'mid', 'mid-mid', 'right', 'right-mid', 'middle',
] as const;

/** A timestamp as operators read it: ISO 8601 in UTC, to the second. */
export function formatTime(time: Date | null): string | null {
  return time === null ? null : time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
