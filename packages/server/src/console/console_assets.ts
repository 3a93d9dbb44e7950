import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { consoleAssetsDir } from '@x3dh-iot/console';

export interface ConsoleAsset {
  body: Buffer;
  type: string;
}

/** Built file name -> its bytes; only the files of the console's build are ever served. */
export type ConsoleAssets = ReadonlyMap<string, ConsoleAsset>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Reads the console's build (packages/console/dist) once; null, and a warning, when it has not been built. */
export function loadConsoleAssets(log: Logger): ConsoleAssets | null {
  let names: string[];
  try {
    names = fs.readdirSync(consoleAssetsDir);
  } catch {
    log.warn({ dir: consoleAssetsDir }, 'the operator console is not built (npm run build): /console answers 503');
    return null;
  }
  const assets = new Map<string, ConsoleAsset>();
  for (const name of names) {
    const type = TYPES[path.extname(name)];
    if (type !== undefined) assets.set(name, { body: fs.readFileSync(path.join(consoleAssetsDir, name)), type });
  }
  return assets;
}
