import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { entryScript } from '@x3dh-iot/testkit';
import { FileKeyStore, type DeviceState } from '../src/index.js';
import { startMosquittoAndPostgres, type RunningKeyServer } from './support/key_server.js';
import { REPO_ROOT, runCli, runCliJson } from './support/run_cli.js';
import { tempDir } from './support/temp_dir.js';

const SAVE_LOOP = fileURLToPath(new URL('./support/save_loop.ts', import.meta.url));

async function loadStore(path: string, passphrase?: string): Promise<DeviceState> {
  const store = await FileKeyStore.open(path, { passphrase });
  try {
    return await store.load();
  } finally {
    await store.close();
  }
}

/** Runs the save loop until it has completed at least `minSaves` saves plus a random extra time, then SIGKILLs it. */
async function killDuringSaves(path: string, passphrase: string | undefined, minSaves: number): Promise<number> {
  const child = spawn(process.execPath, [await entryScript(SAVE_LOOP), path, ...(passphrase ? [passphrase] : [])],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let last = 0;
  let killScheduled = false;
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    if (lines.length > 0) last = Number(lines.at(-1));
    if (!killScheduled && last >= minSaves) {
      killScheduled = true;
      setTimeout(() => child.kill('SIGKILL'), Math.random() * 40);
    }
  });
  return new Promise((resolve, reject) => child.on('exit', (code, signal) => {
    if (signal !== 'SIGKILL') reject(new Error(`save loop ended with ${code ?? signal} before it was killed`));
    else resolve(last);
  }));
}

test('SIGKILL during saves never leaves a torn store: it holds the last completed save or the one in flight', async (t) => {
  const dir = tempDir(t);
  for (const passphrase of [undefined, 'correct horse']) {
    const path = join(dir, passphrase ? 'sealed.json' : 'plain.json');
    let previous = 0;
    for (let round = 0; round < 6; round++) {
      const lastPrinted = await killDuringSaves(path, passphrase, previous + 5);
      const state = await loadStore(path, passphrase);
      const n = state.nextOneTimePreKeyId;
      assert.ok(n === lastPrinted || n === lastPrinted + 1, `round ${round}: store holds save ${n}, last completed ${lastPrinted}`);
      assert.deepEqual([...state.oneTimePreKeys.keys()].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
      assert.equal(state.username, `user${n}`);
      previous = n;
    }
  }
});

let server: RunningKeyServer;
before(async () => { server = await startMosquittoAndPostgres(); });
after(() => server?.stop());

test('v1: CLI processes killed at random moments of register, publish, init and send leave usable stores', async (t) => {
  const dir = tempDir(t);
  const env = (name: string) => ({ ...server.deviceEnv, X3DH_PROTOCOL: 'v1', X3DH_STORE: join(dir, `${name}.json`) });
  const aliceStore = join(dir, 'alice.json');
  const bobStore = join(dir, 'bob.json');
  /** Starts the step, kills it with SIGKILL somewhere between process start and its end, then checks the store loads. */
  const killedStep = async (name: string, args: string[]) => {
    const result = await runCli(args, env(name), { killAfterMs: 400 + Math.random() * 1200 });
    const state = await loadStore(join(dir, `${name}.json`));
    return { killed: result.signal === 'SIGKILL', state };
  };
  const kills: string[] = [];
  const step = async (name: string, args: string[]) => {
    const { killed } = await killedStep(name, args);
    if (killed) kills.push(`${name} ${args[0]}`);
    return runCliJson(args, env(name));
  };

  await step('alice', ['register', 'alice']);
  await step('bob', ['register', 'bob']);
  await step('bob', ['publish']);
  await step('bob', ['publish']);
  await step('alice', ['init', 'bob', 'hello bob']);
  // A killed init may have sent its initial message; take every pending one, the last is the live session.
  let last: { peer: string; text: string } | null = null;
  for (let session = (await runCliJson(['inbox'], env('bob'))).session; session; session = (await runCliJson(['inbox'], env('bob'))).session) {
    last = session as { peer: string; text: string };
  }
  assert.deepEqual(last && { peer: last.peer, text: last.text }, { peer: 'alice', text: 'hello bob' });
  await step('bob', ['send', 'alice', 'hi alice']);
  assert.ok(((await runCliJson(['read', 'bob'], env('alice'))).messages as string[]).includes('hi alice'));
  await step('alice', ['send', 'bob', 'hi again']);
  assert.ok(((await runCliJson(['read', 'alice'], env('bob'))).messages as string[]).includes('hi again'));

  const [alice, bob] = [await loadStore(aliceStore), await loadStore(bobStore)];
  assert.deepEqual(alice.sessions.get('bob')?.sharedKey, bob.sessions.get('alice')?.sharedKey);
  t.diagnostic(`processes actually killed before they finished: ${kills.length} of 7 (${kills.join(', ')})`);
});

test('v2: CLI processes killed at random moments of enroll, publish, start and send leave usable stores and lose no message', async (t) => {
  const dir = tempDir(t);
  const env = (name: string) => ({ ...server.deviceEnv, X3DH_STORE: join(dir, `${name}.json`) });
  const kills: string[] = [];
  /** Kills the step somewhere between process start and its end, checks the store loads, then runs it to the end. */
  const step = async (name: string, args: string[]) => {
    const result = await runCli(args, env(name), { killAfterMs: 400 + Math.random() * 1200 });
    await loadStore(join(dir, `${name}.json`));
    if (result.signal === 'SIGKILL') kills.push(`${name} ${args[0]}`);
    return runCliJson(args, env(name));
  };

  // A killed enrolment may have used its token: enrolling again with the same key needs none.
  await step('ann', ['enroll', 'ann', `--token=${(await server.issueToken())!}`]);
  await step('bo', ['enroll', 'bo', `--token=${(await server.issueToken())!}`]);
  await step('bo', ['publish', '--count', '5']);
  await step('ann', ['publish', '--count', '5']);
  await step('ann', ['start', 'bo', 'hello bo']);
  // A killed start may have sent its initial message (or left it to be resent): the last one is the live session.
  let last: { peer: string; text: string } | null = null;
  for (let session = (await runCliJson(['inbox'], env('bo'))).session; session; session = (await runCliJson(['inbox'], env('bo'))).session) {
    last = session as { peer: string; text: string };
  }
  assert.deepEqual(last && { peer: last.peer, text: last.text }, { peer: 'ann', text: 'hello bo' });
  await step('bo', ['send', 'ann', 'hi ann']);
  assert.ok(((await runCliJson(['read', 'bo'], env('ann'))).messages as string[]).includes('hi ann'));
  await step('ann', ['send', 'bo', 'hi again']);
  assert.ok(((await runCliJson(['read', 'ann'], env('bo'))).messages as string[]).includes('hi again'));

  const [ann, bo] = [await loadStore(join(dir, 'ann.json')), await loadStore(join(dir, 'bo.json'))];
  assert.deepEqual([ann.v2.sessions.get('bo')?.current.kind, bo.v2.sessions.get('ann')?.current.kind], ['ratchet', 'ratchet']);
  assert.deepEqual([ann.v2.outbox.length, bo.v2.outbox.length], [0, 0], 'nothing left to resend');
  t.diagnostic(`processes actually killed before they finished: ${kills.length} of 7 (${kills.join(', ')})`);
});
