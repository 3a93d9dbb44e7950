import { Command, InvalidArgumentError } from 'commander';
import { decodeBase64urlFixed, encodeBase64url, X25519_KEY_BYTES } from '@x3dh-iot/protocol';
import { rotateIdentity } from '../domain/device_lifecycle.js';
import { listDevices, type DeviceRow } from '../storage/queries/operator_device_queries.js';
import { findDevice } from '../storage/queries/v2_device_queries.js';
import { withStore, withStoreOptions, type StoreOptions } from './admin_store.js';
import { OperatorError } from './operator_error.js';
import { formatTime, printJson, printTable } from './output.js';

function identityKey(text: string): Uint8Array {
  try {
    return decodeBase64urlFixed(text, X25519_KEY_BYTES, 'identity key');
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message} (expected ${X25519_KEY_BYTES} bytes, base64url without padding)`);
  }
}

function describe(row: DeviceRow) {
  return {
    device: row.username, identity_key: encodeBase64url(row.identity_key), state: row.deleted_at ? 'deleted' : 'active',
    created: formatTime(row.created_at), deleted: formatTime(row.deleted_at), signed_prekey_id: row.signed_prekey_id,
    one_time_prekeys: row.one_time_prekeys, mailbox_messages: row.mailbox_messages,
  };
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
      await withStore(options, (database) => database.transaction(async (sql) => {
        const device = await findDevice(sql, name);
        if (device === null) throw new OperatorError(`no device named ${name}`);
        // The same change as a device's own identity.rotate; the row lock its UPDATE takes waits for
        // a prekey upload in flight, whose keys are then deleted too.
        await rotateIdentity(sql, device.id, key);
      }));
      if (options.json) printJson({ device: name, identity_key: encodeBase64url(key) });
      else process.stdout.write(`identity key of ${name} replaced; its prekeys are deleted until it uploads new ones\n`);
    });
}

function listCommand(): Command {
  return withStoreOptions(new Command('list'))
    .description('List devices with their identity key, prekey stock and waiting mailbox messages')
    .option('--json', 'print a JSON array')
    .action(async (options: StoreOptions & { json?: boolean }) => {
      const rows = await withStore(options, (database) => database.transaction(listDevices));
      if (options.json) {
        printJson(rows.map(describe));
        return;
      }
      printTable(['DEVICE', 'STATE', 'IDENTITY KEY', 'SIGNED PREKEY', 'ONE-TIME PREKEYS', 'MAILBOX', 'CREATED'], rows.map(describe).map((row) => [
        row.device, row.state, row.identity_key, row.signed_prekey_id?.toString(), String(row.one_time_prekeys),
        String(row.mailbox_messages), row.created,
      ]));
    });
}

/** `x3dh-server device ...`: the operator's view of the directory. */
export function deviceCommand(): Command {
  return new Command('device')
    .description('Devices in the directory')
    .addCommand(setIdentityCommand())
    .addCommand(listCommand());
}
