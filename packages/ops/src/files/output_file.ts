import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Secrets (private keys, Erlang cookies, passwords): owner read/write only. */
export const SECRET_FILE_MODE = 0o600;
/** Certificates, configurations and other public material. */
export const PUBLIC_FILE_MODE = 0o644;

export class OutputExistsError extends Error {
  constructor(readonly paths: string[]) {
    super(`refusing to overwrite ${paths.join(', ')} (use --force to replace)`);
    this.name = 'OutputExistsError';
  }
}

export interface OutputFile {
  path: string;
  contents: string;
  mode: number;
}

export type Progress = (line: string) => void;

export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes a set of files as one step: without `force`, nothing is written when any of them exists, so
 * a refused run never leaves a half-replaced key/certificate pair behind.
 */
export async function writeOutputFiles(files: OutputFile[], options: { force: boolean; progress: Progress }): Promise<void> {
  if (!options.force) {
    const present = (await Promise.all(files.map(async (file) => ((await pathExists(file.path)) ? file.path : null))))
      .filter((path): path is string => path !== null);
    if (present.length > 0) throw new OutputExistsError(present);
  }
  for (const file of files) {
    // New directories are owner-only: most of them hold keys.
    await mkdir(dirname(file.path), { recursive: true, mode: 0o700 });
    await writeFile(file.path, file.contents, { mode: file.mode, flag: options.force ? 'w' : 'wx' });
    // The creation mode is filtered by the umask and an overwritten file keeps its old mode.
    await chmod(file.path, file.mode);
    options.progress(`wrote ${file.path} (mode ${file.mode.toString(8)})`);
  }
}
