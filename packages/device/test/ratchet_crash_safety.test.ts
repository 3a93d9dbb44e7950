import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { entryScript } from '@x3dh-iot/testkit';
import { type DeviceState, FileKeyStore, openSecureDevice } from '../src/index.js';
import { sentCount } from '../src/v2/session_record.js';
import { startMosquittoAndPostgres, type RunningKeyServer } from './support/key_server.js';
import { REPO_ROOT } from './support/run_cli.js';
import { tempDir } from './support/temp_dir.js';

const STEP = fileURLToPath(new URL('./support/crash_step.ts', import.meta.url));
const STEPS = 14;
const PEER = { alice: 'bob', bob: 'alice' } as const;
type Name = keyof typeof PEER;

let server: RunningKeyServer;
before(async () => { server = await startMosquittoAndPostgres(); });
after(() => server?.stop());

async function loadStore(path: string): Promise<DeviceState> {
  const store = await FileKeyStore.open(path);
  try {
    return await store.load();
  } finally {
    await store.close();
  }
}

/** Runs one crash step (support/crash_step.ts) to its end or its SIGKILL; the mailbox messages it fetched. */
async function step(args: string[]): Promise<{ killed: boolean; fetched: { from: string; envelope: string }[] }> {
  const child = spawn(process.execPath, [await entryScript(STEP), ...args],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...server.deviceEnv } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  assert.ok(code === 0 || signal === 'SIGKILL', `step ${args.slice(3).join(' ')} ended with ${code ?? signal}`);
  const fetched = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { from: string; envelope: string });
  return { killed: signal === 'SIGKILL', fetched };
}

test('crash safety: devices killed (SIGKILL) between decrypt and save and between save and send or acknowledgement open every message once, lose none, and never reuse a message key', async (t) => {
  const dir = tempDir(t);
  const storeOf = (name: Name) => join(dir, `${name}.json`);
  const settings = {
    brokerUrl: server.deviceEnv.X3DH_BROKER_URL!, caFile: server.deviceEnv.X3DH_CA_FILE, timeoutMs: 20_000,
    deploymentId: server.deviceEnv.X3DH_DEPLOYMENT_ID, operatorKey: server.deviceEnv.X3DH_OPERATOR_KEY,
  };
  for (const name of ['alice', 'bob'] as const) {
    const device = await openSecureDevice({ storePath: storeOf(name), settings });
    await device.setUsername(name);
    await device.registerIdentity({ token: (await server.issueToken())! });
    await device.publishBundle(3);
    if (name === 'bob') {
      await device.close();
      const alice = await openSecureDevice({ storePath: storeOf('alice'), settings });
      await alice.startSession('bob', 'hello');
      await alice.close();
    } else {
      await device.close();
    }
  }
  const expected = { alice: new Set<string>(), bob: new Set<string>(['hello']) };
  const neverSent = new Set<string>();
  /** Every envelope seen in a mailbox by (sender, ratchet key, number): one envelope each, or a message key was used twice. */
  const byMessageKey = new Map<string, string>();
  const run = async (name: Name, action: string, text: string, kill: string, at: number) => {
    const { killed, fetched } = await step([storeOf(name), settings.brokerUrl, settings.caFile!, action, PEER[name], text, kill, String(at)]);
    for (const m of fetched) {
      const json = JSON.parse(Buffer.from(m.envelope, 'base64url').toString('utf8')) as { dh?: string; n?: number };
      const key = `${m.from} ${json.dh} ${json.n}`;
      assert.equal(byMessageKey.get(key) ?? m.envelope, m.envelope, `two different envelopes under one message key (${key})`);
      byMessageKey.set(key, m.envelope);
    }
    return killed;
  };
  // Bob takes alice's handshake first, so that both sides hold the session every later step uses.
  await run('bob', 'read', '', 'none', 0);
  let kills = 0;
  for (let i = 0; i < STEPS; i++) {
    const name: Name = randomInt(2) === 0 ? 'alice' : 'bob';
    const kill = ['none', 'before', 'after'][randomInt(3)]!;
    const at = 1 + randomInt(3);
    if (randomInt(5) < 3) {
      const text = `${name} ${i}`;
      const sent = async () => sentCount((await loadStore(storeOf(name))).v2.sessions.get(PEER[name])!.current);
      const before = await sent();
      if (await run(name, 'send', text, kill, at)) kills += 1;
      // Saved (the session's counter moved) means it must arrive; not saved means it must never.
      ((await sent()) > before ? expected[PEER[name]] : neverSent).add(text);
    } else if (await run(name, 'read', '', kill, at)) {
      kills += 1;
    }
  }
  for (const name of ['alice', 'bob'] as const) await run(name, 'flush', '', 'none', 0);
  for (const name of ['alice', 'bob'] as const) await run(name, 'read', '', 'none', 0);

  for (const name of ['alice', 'bob'] as const) {
    const received = (await loadStore(storeOf(name))).v2.unread.map((u) => u.text);
    assert.equal(new Set(received).size, received.length, `${name} opened a message twice: ${received.join(', ')}`);
    assert.deepEqual(received.filter((text) => neverSent.has(text)), [], 'an unsaved send never arrives');
    assert.deepEqual([...expected[name]].filter((text) => !received.includes(text)), [], `${name} lost a message`);
  }
  t.diagnostic(`${kills} of ${STEPS} steps killed; ${byMessageKey.size} distinct messages seen in mailboxes`);
});
