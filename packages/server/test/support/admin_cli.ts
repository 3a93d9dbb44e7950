import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { entryScript } from '@x3dh-iot/testkit';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface AdminResult { code: number; stdout: string; stderr: string }

/** The environment without the store variables, so that only the flags given choose the store. */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'X3DH_DATABASE_URL' && name !== 'X3DH_DATA_DIR'));

/** Runs `x3dh-server <args> <store flags>` as an operator would, in a child process. */
export async function runAdmin(store: readonly string[], ...args: string[]): Promise<AdminResult> {
  const script = await entryScript(MAIN);
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args, ...store],
      { timeout: 120_000, env: ENV }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
  });
}

/** Like runAdmin, and fails the test with the command's output unless it exits 0; returns stdout. */
export async function admin(store: readonly string[], ...args: string[]): Promise<string> {
  const result = await runAdmin(store, ...args);
  assert.equal(result.code, 0, `x3dh-server ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}
