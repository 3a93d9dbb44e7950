// Bundles the key server into one ES module for the container image, leaving out only what cannot be
// bundled (a native addon, WebAssembly), and copies the SQL migrations it reads at start-up.
// Usage: node deploy/bundle-server.mjs <output directory>
import { cp, mkdir } from 'node:fs/promises';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const out = process.argv[2];
if (!out) throw new Error('usage: node deploy/bundle-server.mjs <output directory>');

await mkdir(out, { recursive: true });
await build({
  entryPoints: [`${root}packages/server/src/main.ts`],
  outfile: `${out}/server.mjs`,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Workspace packages are bundled from their TypeScript sources.
  conditions: ['source'],
  external: ['sodium-native', 'pg-native'],
  // Bundled CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
// migrate.ts reads ./migrations/ next to the module that contains it: the bundle.
await cp(`${root}packages/server/src/storage/migrations`, `${out}/migrations`, { recursive: true });
