// Bundles the console for the browser into dist/: one script, one style sheet and the page that
// loads them (no inline script or style, as the console's Content-Security-Policy requires).
import fs from 'node:fs';
import { URL } from 'node:url';
import * as esbuild from 'esbuild';

const dist = new URL('./dist/', import.meta.url);
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist, { recursive: true });
await esbuild.build({
  entryPoints: { console: 'src/main.ts' },
  absWorkingDir: new URL('.', import.meta.url).pathname,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari17'],
  outdir: 'dist',
  logLevel: 'warning',
});
fs.copyFileSync(new URL('./src/index.html', import.meta.url), new URL('index.html', dist));
