import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCli } from './operator_cli.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMMANDS = [[], ['pki'], ['pki', 'init'], ['pki', 'broker'], ['pki', 'server-client'], ['pki', 'broker-admin'], ['pki', 'device'], ['wg', 'provision'], ['firmware', 'keys-h'], ['operator', 'init'], ['broker', 'mosquitto'], ['broker', 'mosquitto-apply'], ['broker', 'rabbitmq'], ['broker', 'rabbitmq-sync'], ['wg', 'remove'], ['k8s-secrets']];

describe('operator CLI help', () => {
  it('answers --help for every command', async () => {
    const results = await Promise.all(COMMANDS.map((command) => runCli([...command, '--help'])));
    for (const [index, result] of results.entries()) {
      const command = COMMANDS[index]!;
      assert.equal(result.code, 0, command.join(' '));
      assert.match(result.stdout, new RegExp(`^Usage: x3dh-ops${command.length > 0 ? ` ${command.join(' ')}` : ''} `, 'm'));
      if (command.length === 2 || command[0] === 'k8s-secrets') assert.match(result.stdout, /--dir <path>/);
    }
  });

  it('runs from its TypeScript sources with the README\'s command (npm run ops)', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'ops', '--', '--help'], { cwd: REPO_ROOT });
    assert.match(stdout, /^Usage: x3dh-ops /m);
  });

  it('explains a usage error and exits non-zero', async () => {
    const result = await runCli(['wg', 'provision', 'alice', '--endpoint', 'no-port']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /must be HOST:PORT/);
  });
});
