import { Command, CommanderError } from 'commander';
import { consoleTokenCommand } from './console_token_command.js';
import { deviceCommand } from './device_command.js';
import { OperatorError } from './operator_error.js';
import { tokenCommand } from './token_command.js';

/** Exit codes of the operator commands. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** First arguments that select an operator command instead of serving. */
const COMMANDS = ['token', 'device', 'console-token'] as const;

export function isAdminCommand(argv: readonly string[]): boolean {
  return (COMMANDS as readonly string[]).includes(argv[0] ?? '');
}

function adminProgram(): Command {
  const program = new Command('x3dh-server')
    .description('Operator commands of the key server; without a command, x3dh-server serves (see x3dh-server --help)')
    .showHelpAfterError()
    .addCommand(tokenCommand())
    .addCommand(deviceCommand())
    .addCommand(consoleTokenCommand());
  // Commander would exit the process itself; the exit code is decided in one place below.
  const exitOverride = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(exitOverride);
  };
  exitOverride(program);
  return program;
}

/**
 * Runs `x3dh-server token ...`, `device ...` or `console-token` (argv without node and script) and
 * returns the exit code: 0 done, 1 failed (the reason on stderr), 2 wrong usage.
 */
export async function runAdminCli(argv: readonly string[]): Promise<number> {
  try {
    await adminProgram().parseAsync(argv as string[], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    // Commander has printed its own message (or the help, exit code 0).
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const message = error instanceof OperatorError ? error.message : `${(error as Error).message ?? String(error)}`;
    process.stderr.write(`x3dh-server: ${message}\n`);
    return error instanceof OperatorError ? error.exitCode : EXIT.failed;
  }
}
