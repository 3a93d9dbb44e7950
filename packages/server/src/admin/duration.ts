import { InvalidArgumentError } from 'commander';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Parses an operator's duration such as `7d`, `24h`, `30m` or `90s` into seconds. */
export function parseDuration(text: string): number {
  const match = /^([1-9][0-9]{0,6})([smhd])$/.exec(text);
  if (!match) throw new InvalidArgumentError('expected a number and a unit s, m, h or d, e.g. 7d, 24h or 30m');
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
}
