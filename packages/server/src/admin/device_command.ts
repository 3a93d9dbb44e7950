import { Command, InvalidArgumentError } from 'commander';
import { decodeBase64urlFixed, encodeBase64url, publishedKeyProblem, X25519_KEY_BYTES } from '@x3dh-iot/protocol';
import { runOnStore, withStoreOptions, type StoreOptions } from './admin_store.js';
import { MAX_DEVICE_PAGE } from './operator_operations.js';
import { printJson, printTable } from './output.js';

function identityKey(text: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = decodeBase64urlFixed(text, X25519_KEY_BYTES, 'identity key');
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message} (expected ${X25519_KEY_BYTES} bytes, base64url without padding)`);
  }
  const problem = publishedKeyProblem(key);
  if (problem !== null) throw new InvalidArgumentError(`identity key: ${problem}`);
  return key;
}

function setIdentityCommand(): Command {
  return withStoreOptions(new Command('set-identity'))
    .description("Replace a device's identity key (a lost or replaced device): deletes its signed and one-time prekeys, " +
      'which the old key signed, and keeps its mailbox. Peers will see a changed key and must accept it.')
    .argument('<name>', 'the device name')
    .argument('<identity-key>', 'the new X25519 identity public key, base64url without padding; one that begins with "-" ' +
      'goes after "--" (set-identity [options] <name> -- <identity-key>)', identityKey)
    .option('--json', 'print the device as JSON')
    .action(async (name: string, key: Uint8Array, options: StoreOptions & { json?: boolean }) => {
      const device = await runOnStore(options, 'device.set-identity', { device: name, identityKey: encodeBase64url(key) });
      if (options.json) printJson(device);
      else process.stdout.write(`identity key of ${name} replaced; its prekeys are deleted until it uploads new ones\n`);
    });
}

const STATE_CHANGES = {
  disable: {
    operation: 'device.disable',
    description: 'Disable a device (a stolen or compromised one): all its requests are refused (device_disabled), none of its ' +
      'keys are handed out, it is not listed, messages to it are refused; its data stays. Its identity key cannot undo this: ' +
      'only device enable, or an enrolment with a new enrolment token (then under a new key), brings it back.',
    done: 'disabled',
  },
  enable: {
    operation: 'device.enable',
    description: 'Undo device disable (not after device delete: a deleted device comes back only by enrolling with a new token)',
    done: 'enabled',
  },
  delete: {
    operation: 'device.delete',
    description: 'Delete a device: its prekeys, mailbox and rate allowances go, and it stays disabled, so that its identity key ' +
      '(possibly stolen) cannot restore it. The name stays reserved: the device comes back only by enrolling with a new token.',
    done: 'deleted',
  },
} as const;

function stateCommand(name: keyof typeof STATE_CHANGES): Command {
  const change = STATE_CHANGES[name];
  return withStoreOptions(new Command(name))
    .description(change.description)
    .argument('<name>', 'the device name')
    .option('--json', 'print {"device": ..., "state": ..., "was": ...}')
    .action(async (device: string, options: StoreOptions & { json?: boolean }) => {
      const result = await runOnStore(options, change.operation, { device });
      if (options.json) printJson(result);
      else process.stdout.write(`${device} ${change.done} (was ${result.was}, now ${result.state})\n`);
    });
}

function pageSize(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > MAX_DEVICE_PAGE) throw new InvalidArgumentError(`must be an integer from 1 to ${MAX_DEVICE_PAGE}`);
  return value;
}

function listCommand(): Command {
  return withStoreOptions(new Command('list'))
    .description('List devices in name order with their identity key, prekey stock and waiting mailbox messages, ' +
      `a page at a time (${MAX_DEVICE_PAGE} at most): when more follow, the command to list the next page goes to stderr`)
    .option('--after <name>', 'list the devices whose names come after this one (the last of the previous page)')
    .option('--limit <n>', `most devices listed (1 to ${MAX_DEVICE_PAGE})`, pageSize, MAX_DEVICE_PAGE)
    .option('--json', 'print a JSON array')
    .action(async (options: StoreOptions & { after?: string; limit: number; json?: boolean }) => {
      const rows = await runOnStore(options, 'device.list', { after: options.after ?? null, limit: options.limit });
      if (options.json) printJson(rows);
      else {
        printTable(['DEVICE', 'STATE', 'IDENTITY KEY', 'SIGNED PREKEY', 'ONE-TIME PREKEYS', 'MAILBOX', 'CREATED'], rows.map((row) => [
          row.device, row.state, row.identity_key, row.signed_prekey_id?.toString(), String(row.one_time_prekeys),
          String(row.mailbox_messages), row.created,
        ]));
      }
      const last = rows.at(-1);
      if (rows.length === options.limit && last !== undefined) {
        process.stderr.write(`more devices may follow: x3dh-server device list --after ${last.device}\n`);
      }
    });
}

/** `x3dh-server device ...`: the operator's view of the directory. */
export function deviceCommand(): Command {
  return new Command('device')
    .description('Devices in the directory')
    .addCommand(setIdentityCommand())
    .addCommand(stateCommand('disable'))
    .addCommand(stateCommand('enable'))
    .addCommand(stateCommand('delete'))
    .addCommand(listCommand());
}
