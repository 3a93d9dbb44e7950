import { Command, InvalidArgumentError } from 'commander';
import { wireV2 } from '@x3dh-iot/protocol';
import { enrolmentTokenDigest, newEnrolmentToken } from '../domain/enrolment_token.js';
import { runOnStore, withStoreOptions, type StoreOptions } from './admin_store.js';
import { parseDuration } from './duration.js';
import { TOKEN_ID_PATTERN } from './operator_operations.js';
import { printJson, printTable } from './output.js';

function deviceName(text: string): string {
  if (!wireV2.isDeviceName(text)) throw new InvalidArgumentError('a device name is 1 to 64 of A-Z a-z 0-9 . _ -');
  return text;
}

function tokenId(text: string): string {
  if (!TOKEN_ID_PATTERN.test(text)) throw new InvalidArgumentError('a token id is a positive integer (see token list)');
  return text;
}

function issueCommand(): Command {
  return withStoreOptions(new Command('issue'))
    .description('Issue a single-use enrolment token and print it. It is shown only this once: the store keeps its SHA-256 digest.')
    .option('--device <name>', 'only this device name may enrol with the token', deviceName)
    .option('--expires-in <duration>', 'lifetime such as 7d, 24h or 30m (default: no expiry)', parseDuration)
    .option('--note <text>', 'free text for the operator, shown by token list')
    .option('--json', 'print {"token": ..., "id": ..., ...} instead of text')
    .option('--shell', 'print shell exports of the token, deployment id and operator key a device needs (eval "$(... --shell)")')
    .action(async (options: StoreOptions & { device?: string; expiresIn?: number; note?: string; json?: boolean; shell?: boolean }) => {
      // Made here: only its digest reaches the store (or the key server holding it).
      const token = newEnrolmentToken();
      const row = await runOnStore(options, 'token.issue', {
        digest: enrolmentTokenDigest(token).toString('base64url'), device: options.device ?? null, note: options.note ?? null,
        expiresInSeconds: options.expiresIn ?? null,
      });
      if (options.json) {
        printJson({ token, ...row });
        return;
      }
      if (options.shell) {
        // Tokens, ids and keys are base64url or [A-Za-z0-9._-]: nothing a shell would expand.
        process.stdout.write(`export X3DH_ENROLMENT_TOKEN=${token}\n`);
        if (row.deployment_id !== null) {
          process.stdout.write(`export X3DH_DEPLOYMENT_ID=${row.deployment_id} X3DH_OPERATOR_KEY=${row.operator_public_key}\n`);
        } else {
          process.stderr.write('no key server has started on this store yet: start it, then issue the token again\n');
        }
        return;
      }
      // The token alone on stdout, so that `TOKEN=$(x3dh-server token issue)` captures it.
      process.stdout.write(`${token}\n`);
      process.stderr.write(`enrolment token ${row.id} issued${row.device ? ` for device ${row.device}` : ' for any device name'}, ` +
        `${row.expires ? `expires ${row.expires}` : 'does not expire'}; it is not shown again\n`);
      // What the device is provisioned with besides the token, so that one copy carries all of it.
      process.stderr.write(row.deployment_id === null
        ? 'no key server has started on this store yet: it logs the operator public key and deployment id at its first start\n'
        : `provision the device with: --deployment-id ${row.deployment_id} --operator-key ${row.operator_public_key}\n` +
          `  (X3DH_DEPLOYMENT_ID=${row.deployment_id} X3DH_OPERATOR_KEY=${row.operator_public_key})\n`);
    });
}

function listCommand(): Command {
  return withStoreOptions(new Command('list'))
    .description('List enrolment tokens with their state: issued, used, revoked or expired (never the tokens themselves)')
    .option('--json', 'print a JSON array')
    .action(async (options: StoreOptions & { json?: boolean }) => {
      const rows = await runOnStore(options, 'token.list', {});
      if (options.json) {
        printJson(rows);
        return;
      }
      printTable(['ID', 'STATE', 'DEVICE', 'CREATED', 'EXPIRES', 'USED BY', 'NOTE'], rows.map((row) => [
        row.id, row.state, row.device, row.created, row.expires, row.used_by, row.note,
      ]));
    });
}

function revokeCommand(): Command {
  return withStoreOptions(new Command('revoke'))
    .description('Revoke an enrolment token that has not been used, so nobody can enrol with it')
    .argument('<id>', 'the token id shown by token issue and token list', tokenId)
    .option('--json', 'print the revoked token as JSON')
    .action(async (id: string, options: StoreOptions & { json?: boolean }) => {
      const row = await runOnStore(options, 'token.revoke', { id });
      if (options.json) printJson(row);
      else process.stdout.write(`enrolment token ${row.id} revoked\n`);
    });
}

/** `x3dh-server token ...`: enrolment tokens of new devices (docs/protocol-v2.md section 6.1). */
export function tokenCommand(): Command {
  return new Command('token')
    .description('Enrolment tokens: a new device needs one to enrol, unless open enrolment is on')
    .addCommand(issueCommand())
    .addCommand(listCommand())
    .addCommand(revokeCommand());
}
