/** How operator commands print: aligned columns for people, one JSON document with --json. */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints a header and rows as left-aligned columns; "-" stands for an empty cell. */
export function printTable(header: readonly string[], rows: readonly (readonly (string | null | undefined)[])[]): void {
  const cells = [header, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined || cell === '' ? '-' : cell)))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  for (const row of cells) {
    process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()}\n`);
  }
}

/** A timestamp as operators read it: ISO 8601 in UTC, to the second. */
export function formatTime(time: Date | null): string | null {
  return time === null ? null : time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
