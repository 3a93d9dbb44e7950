import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { entryScript } from '@x3dh-iot/testkit';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** The command that runs the CLI from the current sources (bundled: see entryScript). */
export const CLI_COMMAND = [process.execPath, await entryScript(CLI_MAIN)];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The test runner's environment without its X3DH_* variables, so they cannot leak in, plus `env`. */
export function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('X3DH_'))), ...env };
}

/**
 * Runs the CLI as its own process in the repository root. With `closedOutput`, the reader of its
 * standard output goes away before it writes, as `| head` does after its lines.
 */
export function runCli(
  args: readonly string[], env: Record<string, string> = {}, options: { killAfterMs?: number; closedOutput?: boolean } = {},
): Promise<CliResult> {
  const child = spawn(CLI_COMMAND[0]!, [...CLI_COMMAND.slice(1), ...args], {
    cwd: REPO_ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  if (options.closedOutput) child.stdout.destroy();
  else child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr });
  }));
}

/** Runs the CLI with --json and returns the parsed object, failing with the output when the exit code differs. */
export async function runCliJson(args: readonly string[], env: Record<string, string> = {}, expectedCode = 0): Promise<Record<string, unknown>> {
  const result = await runCli([...args, '--json'], env);
  if (result.code !== expectedCode) {
    throw new Error(`x3dh-device ${args.join(' ')}: exit ${result.code} (expected ${expectedCode})\n${result.stdout}${result.stderr}`);
  }
  return JSON.parse(result.stdout) as Record<string, unknown>;
}
