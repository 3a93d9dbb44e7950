import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
/** Where the page is built: the key server serves this directory under /device. */
export const PAGE_DIR = join(PACKAGE_DIR, 'dist', 'page');

/**
 * Builds the device page as static files: index.html, device.css and one bundled, minified
 * device.js (no CDN, no inline script: it runs under `script-src 'self'`). The workspace packages
 * are bundled from their sources with their browser entries; Node's EventEmitter and Buffer come
 * from the `events` and `buffer` packages.
 */
export async function buildDevicePage(outDir = PAGE_DIR): Promise<string> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(PACKAGE_DIR, 'src', 'main.ts')],
    outfile: join(outDir, 'device.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome111', 'firefox111', 'safari16.4'],
    conditions: ['browser', 'source'],
    alias: { 'node:events': 'events' },
    inject: [join(PACKAGE_DIR, 'src', 'buffer_global.ts')],
    define: { global: 'globalThis' },
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'device.css', 'icon.svg']) await copyFile(join(PACKAGE_DIR, 'static', file), join(outDir, file));
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outDir = await buildDevicePage();
  console.log(`device page built in ${outDir}`);
}
