import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort, stopChild } from '@x3dh-iot/testkit';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  image: string;
  name: string;
  instructions: Instruction[];
}

/** Dockerfile instructions grouped by stage (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const match = /^(\S+)\s+AS\s+(\S+)$/i.exec(args);
      assert.ok(match, `every stage is named: FROM ${args}`);
      stages.push({ image: match[1]!, name: match[2]!, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

describe('container image', () => {
  it('is multi-stage, runs as a non-root user, and checks its health on /healthz', async () => {
    const text = await readFile(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    const stages = parseDockerfile(text);
    assert.ok(stages.length >= 2, 'multi-stage');
    const nodeImage = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1];
    assert.match(nodeImage ?? '', /^node:20\.\d+\.\d+-[a-z]+-slim$/, 'a pinned, slim Node 20 base image');

    const names = new Set<string>();
    for (const stage of stages) {
      assert.ok(stage.image === '${NODE_IMAGE}' || names.has(stage.image), `known base for ${stage.name}`);
      for (const copy of stage.instructions.filter((instruction) => instruction.keyword === 'COPY')) {
        const from = /--from=(\S+)/.exec(copy.args)?.[1];
        if (from) assert.ok(names.has(from), `${stage.name} copies from an earlier stage (${from})`);
      }
      names.add(stage.name);
    }

    const runtime = stages.at(-1)!;
    const last = (keyword: string) => runtime.instructions.filter((instruction) => instruction.keyword === keyword).at(-1);
    const user = last('USER')?.args ?? '';
    assert.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'a numeric, non-zero user (Kubernetes can verify runAsNonRoot)');
    assert.match(last('HEALTHCHECK')?.args ?? '', /--interval=\S+.*CMD .*\/healthz/);
    assert.match(last('ENTRYPOINT')?.args ?? '', /"node", "\/app\/server\.mjs"/);
    assert.ok(runtime.instructions.some((instruction) => instruction.keyword === 'COPY' && /--from=build \/out\/ \.\//.test(instruction.args)));
    assert.ok(stages.find((stage) => stage.name === 'build')!.instructions.some((instruction) => instruction.args === 'node deploy/bundle-server.mjs /out'));
    assert.ok(!runtime.instructions.some((instruction) => /npm ci(?!.*--omit=dev)/.test(instruction.args)), 'no development packages at run time');

    const ignored = (await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n');
    for (const pattern of ['**/node_modules', 'deploy/k8s/overlays/*/generated', '.git']) assert.ok(ignored.includes(pattern), pattern);
    assert.ok(!ignored.some((pattern) => /package-lock|^packages$|^deploy$/.test(pattern)), 'the lock file and sources stay in the context');
  });

  it("serves /healthz and /readyz from the image's bundle, with the image's environment", async (t) => {
    let database;
    try {
      database = await createTestDatabase('x3dh_ops_image');
    } catch (error) {
      t.skip(`no test PostgreSQL server: ${(error as Error).message}`);
      return;
    }
    const out = await mkdtemp(join(tmpdir(), 'x3dh-image-'));
    try {
      await new Promise<void>((resolve, reject) =>
        execFile(process.execPath, [join(ROOT, 'deploy', 'bundle-server.mjs'), out], (error, _stdout, stderr) => (error ? reject(new Error(stderr)) : resolve())));
      // The image puts the runtime packages next to the bundle; here the repository's serve.
      await symlink(join(ROOT, 'node_modules'), join(out, 'node_modules'));
      const httpPort = await freePort();
      const server = spawn(process.execPath, [join(out, 'server.mjs')], {
        cwd: out,
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'production',
          X3DH_HTTP_HOST: '127.0.0.1',
          X3DH_HTTP_PORT: String(httpPort),
          X3DH_DATABASE_URL: database.url,
          X3DH_EMBEDDED_BROKER_PORT: '0',
          X3DH_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      server.stderr.on('data', (chunk) => (stderr += chunk));
      try {
        const get = async (path: string) => (await fetch(`http://127.0.0.1:${httpPort}${path}`)).status;
        const deadline = Date.now() + 30_000;
        let ready = 0;
        while (Date.now() < deadline && ready !== 200) {
          assert.equal(server.exitCode, null, `the bundle exited: ${stderr}`);
          ready = await get('/readyz').catch(() => 0);
          if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.equal(ready, 200, `never ready: ${stderr}`);
        assert.equal(await get('/healthz'), 200);
      } finally {
        await stopChild(server);
      }
      assert.equal(server.exitCode, 0, `graceful stop: ${stderr}`);
    } finally {
      await database.drop();
    }
  });
});
