import { access, readFile } from 'node:fs/promises';
import { Option } from 'commander';
import { SETTINGS_ENV, resolveConnectionSettings } from '../connection_settings.js';
import { DeviceError } from '../errors.js';
import { FileKeyStore } from '../file_key_store.js';
import { openDevice } from '../open_device.js';
import type { Device } from '../device.js';
import { openSecureDevice } from '../v2/open_secure_device.js';
import type { SecureDevice } from '../v2/secure_device.js';
import { Prompter } from './prompter.js';

export const STORE_ENV = 'X3DH_STORE';
export const PASSPHRASE_ENV = 'X3DH_PASSPHRASE';
export const DEFAULT_STORE_PATH = '.x3dh/device.json';
export const PROTOCOL_ENV = 'X3DH_PROTOCOL';
export const TOKEN_ENV = 'X3DH_ENROLMENT_TOKEN';

/** A device of either protocol: the menu and the shared subcommands use what both offer. */
export type CliDevice = Device | SecureDevice;

/** Options every command accepts. */
export interface GlobalOptions {
  store: string;
  broker?: string;
  ca?: string;
  cert?: string;
  key?: string;
  config?: string;
  timeout?: string;
  deploymentId?: string;
  operatorKey?: string;
  trustOnFirstUse?: string;
  passphraseFile?: string;
  json?: boolean;
  protocol: 'v1' | 'v2';
}

export function globalOptions(): Option[] {
  return [
    new Option('-s, --store <path>', 'key store file').env(STORE_ENV).default(DEFAULT_STORE_PATH),
    new Option('-b, --broker <url>', 'broker URL: mqtts://host:port (TLS 1.3), or mqtt:// on loopback [default: mqtt://127.0.0.1:1884, the key server\'s embedded broker]').env(SETTINGS_ENV.brokerUrl),
    new Option('--ca <file>', 'PEM CA certificate the broker must chain to').env(SETTINGS_ENV.caFile),
    new Option('--cert <file>', 'PEM client certificate').env(SETTINGS_ENV.certFile),
    new Option('--key <file>', 'PEM client private key').env(SETTINGS_ENV.keyFile),
    new Option('-c, --config <file>', 'JSON file with brokerUrl, caFile, certFile, keyFile, timeoutMs, deploymentId, operatorKey, trustOnFirstUse').env(SETTINGS_ENV.configFile),
    new Option('--timeout <ms>', 'wait this long for each answer [default: 10000]').env(SETTINGS_ENV.timeoutMs),
    new Option('--deployment-id <id>', 'v2: the deployment id the operator printed (x3dh-ops operator init, x3dh-server token issue); every request is signed for it').env(SETTINGS_ENV.deploymentId),
    new Option('--operator-key <base64url>', 'v2: the operator public key the operator printed; peers\' identity keys are used only with its certificate').env(SETTINGS_ENV.operatorKey),
    new Option('--trust-on-first-use [yes|no]', 'v2, without --operator-key only: accept peers\' keys unverified on first contact (else they are refused)')
      .env(SETTINGS_ENV.trustOnFirstUse).argParser((value: string) => value).preset('yes'),
    new Option('--passphrase-file <file>', `file holding the key store passphrase (or set ${PASSPHRASE_ENV}); a new store is encrypted when a passphrase is given`),
    new Option('--json', 'print results as JSON (one object per command)'),
    new Option('--protocol <version>', 'wire protocol: v2 (signed requests, pinned identities, mailbox) or v1 (the original firmware\'s, unauthenticated)')
      .env(PROTOCOL_ENV).choices(['v1', 'v2']).default('v2'),
  ];
}

/**
 * Opens the device the options describe. The passphrase comes from the file, the environment, or,
 * for an encrypted store on a terminal, a prompt (the menu's own, or one just for this question).
 * Only the commands that set a device up (`create`: the menu, register) make a new key store; for the
 * others a missing file is a mistyped path, not a new device.
 */
export async function openCliDevice(
  options: GlobalOptions, { prompter, create = false }: { prompter?: Prompter; create?: boolean } = {},
): Promise<CliDevice> {
  const settings = await resolveConnectionSettings({
    brokerUrl: options.broker, caFile: options.ca, certFile: options.cert, keyFile: options.key,
    timeoutMs: options.timeout, configFile: options.config, deploymentId: options.deploymentId, operatorKey: options.operatorKey,
    trustOnFirstUse: options.trustOnFirstUse,
  }, {});
  if (!create && !(await access(options.store).then(() => true, () => false))) {
    throw new DeviceError('NOT_READY', `no key store at ${options.store}: check --store (or ${STORE_ENV}), or set this device up first with \`register <username>\` or the menu`);
  }
  let passphrase = options.passphraseFile
    ? (await readFile(options.passphraseFile, 'utf8').catch((error: Error) => {
      throw new DeviceError('INVALID_INPUT', `cannot read the passphrase file: ${error.message}`);
    })).replace(/\r?\n$/, '')
    : process.env[PASSPHRASE_ENV] || undefined;
  if (passphrase === undefined && (prompter || process.stdin.isTTY) && await FileKeyStore.isEncrypted(options.store)) {
    const asker = prompter ?? new Prompter(process.stdin, process.stdout);
    passphrase = (await asker.askSecret(`Passphrase for ${options.store}: `)) ?? undefined;
    if (asker !== prompter) asker.close();
  }
  if (options.protocol === 'v1') return (await openDevice({ storePath: options.store, passphrase, settings })).device;
  return openSecureDevice({
    storePath: options.store, passphrase, settings, enrolmentToken: process.env[TOKEN_ENV] || undefined,
    client: {
      onResend: ({ operation, attempt, maxAttempts, reason }) =>
        console.error(`Waiting for the key server: ${operation}: ${reason}; sending it again (attempt ${attempt} of ${maxAttempts})...`),
    },
  });
}
