import { InvalidArgumentError } from 'commander';
import ms from 'ms';

/**
 * Parses an operator's duration such as `7d`, `24h`, `30m`, `90s` or `2 days` (ms's forms) into whole
 * seconds. A unit is required: a bare number would be milliseconds to ms and seconds to a reader.
 */
export function parseDuration(text: string): number {
  const milliseconds = /[a-z]\s*$/i.test(text) ? ms(text as ms.StringValue) : undefined;
  if (milliseconds === undefined || !Number.isFinite(milliseconds) || milliseconds < 1000 || milliseconds % 1000 !== 0) {
    throw new InvalidArgumentError('expected a whole number of seconds or more with a unit, e.g. 7d, 24h, 30m or 90s');
  }
  return milliseconds / 1000;
}
