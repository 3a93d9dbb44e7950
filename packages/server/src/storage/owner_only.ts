import fs from 'node:fs';
import path from 'node:path';

export const OWNER_ONLY_DIR_MODE = 0o700;
export const OWNER_ONLY_FILE_MODE = 0o600;

/**
 * Makes a directory and everything in it owner-only (0700 directories, 0600 files), as PostgreSQL
 * keeps its data directory. PGlite's file layer writes its files with mode 0666 whatever the
 * umask, so the embedded store needs this after every start; the 0700 directory also covers files
 * PGlite creates later. Symbolic links are left alone (their target is not ours to change).
 */
export function restrictToOwner(dir: string): void {
  fs.chmodSync(dir, OWNER_ONLY_DIR_MODE);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const entryPath = path.join(dir, entry.name);
    if (entry.isDirectory()) restrictToOwner(entryPath);
    else if (entry.isFile()) fs.chmodSync(entryPath, OWNER_ONLY_FILE_MODE);
  }
}
