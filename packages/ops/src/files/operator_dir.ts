import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathExists } from './output_file.js';

/**
 * Creates the operator directory owner-only, with a `.gitignore` that ignores everything in it:
 * it holds private keys, and a default location inside a repository must not end up committed.
 */
export async function prepareOperatorDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ignore = join(dir, '.gitignore');
  if (!(await pathExists(ignore))) await writeFile(ignore, '*\n', { mode: 0o644 });
}
