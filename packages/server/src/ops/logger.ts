import { pino, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

/** `json`: one object per line, for log collectors; `pretty`: one readable line per entry, for a terminal. */
export type LogFormat = 'json' | 'pretty';

/** Structured logs on stdout, as JSON lines or formatted for people (same fields either way). */
export function createLogger(level: string, format: LogFormat = 'json'): Logger {
  const options = { level, base: { service: 'x3dh-server' } };
  if (format === 'json') return pino(options);
  // Synchronous, so that the last lines before an exit are not lost. pino-pretty prints an error
  // object (and its stack) over many lines whatever singleLine says, so for people an error is its message.
  return pino({ ...options, formatters: { log: errorAsMessage } }, PinoPretty({
    sync: true, singleLine: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service',
    errorLikeObjectKeys: [],
  }));
}

function errorAsMessage(entry: Record<string, unknown>): Record<string, unknown> {
  if (entry.err === undefined) return entry;
  const { err, ...rest } = entry;
  const message = typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
  return { ...rest, error: message };
}
