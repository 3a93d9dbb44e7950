import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { DeviceError } from './errors.js';

/** How a device reaches the broker. */
export interface ConnectionSettings {
  /**
   * `mqtts://host:port` (TLS 1.3) or `mqtt://host:port` (plain, loopback addresses only); MQTT over
   * WebSocket as `wss://host:port/path` (TLS 1.3) or `ws://host:port/path` (loopback only).
   */
  brokerUrl: string;
  /** PEM file of the CA the broker's certificate must chain to; the system's CAs when absent. */
  caFile?: string | undefined;
  /** PEM client certificate and key, for brokers that authenticate devices by certificate. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** How long to wait for each answer; the firmware waits 10 s. */
  timeoutMs: number;
  /**
   * v2 provisioning (docs/protocol-v2.md section 6.11): the deployment id requests are signed for,
   * the operator public key (base64url) that certifies peers' identity keys, and whether a device
   * without one trusts keys on first use.
   */
  deploymentId?: string | undefined;
  operatorKey?: string | undefined;
  trustOnFirstUse?: boolean | undefined;
}

/** The key server's embedded broker on its default port, so a first try on one machine needs no flags. */
export const DEFAULT_CONNECTION_SETTINGS: ConnectionSettings = { brokerUrl: 'mqtt://127.0.0.1:1884', timeoutMs: 10_000 };

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/;

/** Environment variables, one per setting, plus the config file's path. */
export const SETTINGS_ENV = {
  brokerUrl: 'X3DH_BROKER_URL',
  caFile: 'X3DH_CA_FILE',
  certFile: 'X3DH_CERT_FILE',
  keyFile: 'X3DH_KEY_FILE',
  timeoutMs: 'X3DH_TIMEOUT_MS',
  deploymentId: 'X3DH_DEPLOYMENT_ID',
  operatorKey: 'X3DH_OPERATOR_KEY',
  trustOnFirstUse: 'X3DH_TRUST_ON_FIRST_USE',
  configFile: 'X3DH_CONFIG',
} as const;

const timeout = z.coerce.number().int().min(100).max(600_000);
const configFileSchema = z.strictObject({
  brokerUrl: z.string().optional(),
  caFile: z.string().optional(),
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
  timeoutMs: timeout.optional(),
  deploymentId: z.string().optional(),
  operatorKey: z.string().optional(),
  trustOnFirstUse: z.boolean().optional(),
});

export type PartialSettings = Partial<Record<keyof ConnectionSettings, string | number | boolean | undefined>>;

/** yes/no, true/false, on/off, 1/0, as the key server reads its switches; undefined when not set. */
function yesNo(value: string | number | boolean | undefined): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  throw new DeviceError('INVALID_INPUT', `trust on first use must be yes or no, got ${JSON.stringify(value)}`);
}

/**
 * Settings by precedence: flags, then environment variables, then the config file (a JSON object
 * with the same keys; its relative paths are relative to the file), then defaults. Commander's
 * `.env()` covers flags and environment; the config file layer, with its paths relative to the
 * file and its schema, is the part no option library adds, so the whole order is kept here.
 */
export async function resolveConnectionSettings(
  flags: PartialSettings & { configFile?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<ConnectionSettings> {
  const fromEnv: PartialSettings = {
    brokerUrl: env[SETTINGS_ENV.brokerUrl], caFile: env[SETTINGS_ENV.caFile], certFile: env[SETTINGS_ENV.certFile],
    keyFile: env[SETTINGS_ENV.keyFile], timeoutMs: env[SETTINGS_ENV.timeoutMs], deploymentId: env[SETTINGS_ENV.deploymentId],
    operatorKey: env[SETTINGS_ENV.operatorKey], trustOnFirstUse: env[SETTINGS_ENV.trustOnFirstUse],
  };
  const configFile = flags.configFile ?? env[SETTINGS_ENV.configFile];
  const fromFile = configFile ? await readConfigFile(configFile) : {};
  const pick = (key: keyof ConnectionSettings) => flags[key] ?? (fromEnv[key] || undefined) ?? fromFile[key];
  const timeoutMs = timeout.safeParse(pick('timeoutMs') ?? DEFAULT_CONNECTION_SETTINGS.timeoutMs);
  if (!timeoutMs.success) throw new DeviceError('INVALID_INPUT', 'timeout must be a whole number of milliseconds from 100 to 600000');
  const brokerUrl = String(pick('brokerUrl') ?? DEFAULT_CONNECTION_SETTINGS.brokerUrl);
  checkBrokerUrl(brokerUrl);
  const text = (key: 'caFile' | 'certFile' | 'keyFile' | 'deploymentId' | 'operatorKey') => {
    const value = pick(key);
    return value === undefined ? undefined : String(value);
  };
  return {
    brokerUrl, caFile: text('caFile'), certFile: text('certFile'), keyFile: text('keyFile'), timeoutMs: timeoutMs.data,
    deploymentId: text('deploymentId'), operatorKey: text('operatorKey'), trustOnFirstUse: yesNo(pick('trustOnFirstUse')),
  };
}

/** Plain MQTT would expose every key exchange on the network, so it is allowed on loopback only. */
function checkBrokerUrl(brokerUrl: string): void {
  let url: URL;
  try {
    url = new URL(brokerUrl);
  } catch {
    throw new DeviceError('INVALID_INPUT', `broker URL ${brokerUrl} is not a URL`);
  }
  if (url.protocol === 'mqtts:' || url.protocol === 'wss:') return;
  if (url.protocol !== 'mqtt:' && url.protocol !== 'ws:') {
    throw new DeviceError('INVALID_INPUT', `broker URL ${brokerUrl} must start with mqtts://, mqtt://, wss:// or ws://`);
  }
  if (!LOOPBACK.test(url.hostname)) {
    throw new DeviceError('INVALID_INPUT', `broker URL ${brokerUrl}: plain ${url.protocol}// is allowed on loopback only; use mqtts:// or wss:// (TLS 1.3)`);
  }
}

async function readConfigFile(path: string): Promise<PartialSettings> {
  let parsed: z.infer<typeof configFileSchema>;
  try {
    parsed = configFileSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch (error) {
    const issue = error instanceof z.ZodError ? error.issues[0]! : null;
    const reason = issue === null ? (error as Error).message
      : issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
    throw new DeviceError('INVALID_INPUT', `config file ${path}: ${reason}`, { cause: error });
  }
  const base = dirname(resolve(path));
  const relative = (p: string | undefined) => (p === undefined ? undefined : resolve(base, p));
  return { ...parsed, caFile: relative(parsed.caFile), certFile: relative(parsed.certFile), keyFile: relative(parsed.keyFile) };
}
