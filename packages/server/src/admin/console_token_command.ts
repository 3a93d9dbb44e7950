import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { consoleLoginTokenDigest, LOGIN_TOKEN_LIFETIME, newConsoleLoginToken } from '../console/console_login_token.js';
import { runOnStore, withStoreOptions, type StoreOptions } from './admin_store.js';
import { parseDuration } from './duration.js';
import { printJson } from './output.js';

function lifetime(text: string): number {
  const seconds = parseDuration(text);
  if (seconds > LOGIN_TOKEN_LIFETIME.maxSeconds) throw new InvalidArgumentError(`at most ${LOGIN_TOKEN_LIFETIME.maxSeconds / 3600}h`);
  return seconds;
}

function operatorName(text: string): string {
  if (text.length === 0 || text.length > 100 || /[\p{Cc}]/u.test(text)) throw new InvalidArgumentError('1 to 100 printable characters');
  return text;
}

/** `x3dh-server console-token`: a single-use login token for the operator console (/console on the HTTP port). */
export function consoleTokenCommand(): Command {
  return withStoreOptions(new Command('console-token'))
    .description('Print a login token for the operator console (http://<http-host>:<http-port>/console/): it logs in once, ' +
      'within its lifetime, and the session it opens lasts 8 hours. The store keeps only its SHA-256 digest.')
    .addOption(new Option('--expires-in <duration>', `lifetime such as 15m or 1h (at most ${LOGIN_TOKEN_LIFETIME.maxSeconds / 3600}h)`)
      .argParser(lifetime).default(LOGIN_TOKEN_LIFETIME.defaultSeconds, '15m'))
    .option('--operator <name>', 'who logs in with it, as the audit log names them (default: your system user name)', operatorName)
    .addOption(new Option('--http-host <host>', 'the key server\'s --http-host, for the address printed').env('X3DH_HTTP_HOST').default('127.0.0.1'))
    .addOption(new Option('--http-port <port>', 'the key server\'s --http-port, for the address printed').env('X3DH_HTTP_PORT').default('9464'))
    .option('--json', 'print {"token": ..., "url": ..., "expires": ...} instead of text')
    .action(async (options: StoreOptions & { expiresIn: number; operator?: string; httpHost: string; httpPort: string; json?: boolean }) => {
      const token = newConsoleLoginToken();
      const operator = options.operator ?? os.userInfo().username;
      const row = await runOnStore(options, 'console.token', {
        digest: consoleLoginTokenDigest(token).toString('base64url'), operator, expiresInSeconds: options.expiresIn,
      });
      const host = options.httpHost.includes(':') ? `[${options.httpHost}]` : options.httpHost;
      const url = `http://${host}:${options.httpPort}/console/`;
      if (options.json) {
        printJson({ token, url, ...row });
        return;
      }
      // The token alone on stdout, as token issue does.
      process.stdout.write(`${token}\n`);
      process.stderr.write(`console login token for ${operator}: open ${url} and paste it before ${row.expires}; it works once\n`);
    });
}
