import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Inside the repository, so that the bundle's imports of dependencies resolve from its node_modules. */
const CACHE_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'x3dh-iot-entries');
/** A bundle of an entry not started for this long, whose sources have changed since, is removed. */
const STALE_AFTER_MS = 60 * 60 * 1000;

/** Dependencies stay imports (loaded from node_modules as usual); only the workspace's own sources are bundled. */
const dependenciesExternal: Plugin = {
  name: 'dependencies-external',
  setup(build) {
    build.onResolve({ filter: /^[^./#]/ }, (args) =>
      args.path.startsWith('@x3dh-iot/') ? undefined : { path: args.path, external: true });
  },
};

/** Each source file keeps its own import.meta.url (migrations and native addons are found next to the sources). */
const sourceLocations: Plugin = {
  name: 'source-locations',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => ({
      contents: fs.readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
      loader: 'ts',
    }));
  },
};

const built = new Map<string, Promise<string>>();

async function bundle(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry], bundle: true, write: false, platform: 'node', format: 'esm', target: 'node20',
    conditions: ['source'], plugins: [dependenciesExternal, sourceLocations], logLevel: 'error',
  });
  const code = result.outputFiles[0]!.contents;
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const name = path.relative(path.join(REPO_ROOT, 'packages'), entry).replace(/\.ts$/, '').replaceAll(path.sep, '-');
  const file = path.join(CACHE_DIR, `${name}-${hash}.mjs`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    // Test files run in parallel processes: each writes its own copy, the rename makes one whole file appear.
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, code);
    fs.renameSync(temporary, file);
    removeStaleBundles(name, file);
  } else {
    // Marks it in use, so that removeStaleBundles spares it.
    const now = new Date();
    fs.utimesSync(file, now, now);
  }
  return file;
}

/** Older bundles of the entry (earlier sources) that no test run can still be starting. */
function removeStaleBundles(name: string, current: string): void {
  const staleBefore = Date.now() - STALE_AFTER_MS;
  for (const other of fs.readdirSync(CACHE_DIR)) {
    const file = path.join(CACHE_DIR, other);
    if (file === current || !/^[0-9a-f]{16}\.mjs$/.test(other.slice(name.length + 1)) || !other.startsWith(`${name}-`)) continue;
    try {
      if (fs.statSync(file).mtimeMs < staleBefore) fs.rmSync(file, { force: true });
    } catch {
      // Removed meanwhile by another test process.
    }
  }
}

/**
 * A JavaScript file that runs one of the repository's TypeScript entry points (a CLI, the key
 * server) with `node <file>`, from the current sources: the entry bundled with the same `source`
 * condition as the tsx loader, once per test process. Such a process starts in about 0.4 s
 * instead of about 1 s under tsx, which over the hundreds of processes the tests start is minutes.
 * (The README's `npm run ...` commands, which use tsx, have startup tests of their own.)
 */
export function entryScript(entry: string): Promise<string> {
  let file = built.get(entry);
  if (file === undefined) {
    file = bundle(entry);
    built.set(entry, file);
  }
  return file;
}
