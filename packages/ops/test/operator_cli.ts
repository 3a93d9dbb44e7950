import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { entryScript } from '@x3dh-iot/testkit';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the operator CLI as an operator would, in a child process. */
export async function runCli(args: string[]): Promise<CliResult> {
  const script = await entryScript(MAIN);
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI and fails the test with its output when it does not succeed. */
export async function cli(...args: string[]): Promise<string> {
  const result = await runCli(args);
  if (result.code !== 0) throw new Error(`x3dh-ops ${args.join(' ')} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}
