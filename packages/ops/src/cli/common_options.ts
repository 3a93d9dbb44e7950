import { InvalidArgumentError, Option, type Command } from 'commander';
import type { WriteOptions } from '../pki/pki_operations.js';

export const DEFAULT_OPERATOR_DIR = 'x3dh-ops';

/** Options every writing command takes: where the operator's files live and whether to replace them. */
export function withOutputOptions(command: Command): Command {
  return command
    .addOption(new Option('-d, --dir <path>', 'operator directory (PKI, WireGuard registry, generated files)').env('X3DH_OPS_DIR').default(DEFAULT_OPERATOR_DIR))
    .option('-f, --force', 'replace files that already exist', false);
}

export interface OutputOptions {
  dir: string;
  force: boolean;
}

export function writeOptions(options: OutputOptions): WriteOptions {
  return { force: options.force, progress: (line) => console.log(line) };
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError('must be a port number (1-65535)');
  return port;
}

export function parsePositiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('must be a positive integer');
  return number;
}

/** A broker URI as devices use it: MQTT over TLS, a host, no path (esp-mqtt would take a path as part of the topic space). */
export function parseBrokerUri(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be a URI such as mqtts://10.96.100.100:8883');
  }
  if (url.protocol !== 'mqtts:') throw new InvalidArgumentError(`must start with mqtts:// (MQTT over TLS 1.3), not ${url.protocol}//`);
  if (url.hostname === '') throw new InvalidArgumentError('must name the broker\'s host, e.g. mqtts://10.96.100.100:8883');
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new InvalidArgumentError('must be only mqtts://HOST:PORT (no path, query, fragment or credentials)');
  }
  return value;
}

/** Collects a repeatable option into a list. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
