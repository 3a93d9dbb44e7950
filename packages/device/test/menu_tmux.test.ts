import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { startEmbedded, startMosquittoAndPostgres, type RunningKeyServer } from './support/key_server.js';
import { CLI_COMMAND, REPO_ROOT } from './support/run_cli.js';
import { tempDir } from './support/temp_dir.js';
import { TmuxPane } from './support/tmux.js';

const socket = `x3dh-device-test-${process.pid}`;
after(() => TmuxPane.killServer(socket));

async function choose(pane: TmuxPane, choice: string): Promise<void> {
  await pane.expect('Enter choice:');
  pane.type(choice);
}

async function setUp(pane: TmuxPane, username: string, published: string): Promise<void> {
  await pane.expect('Please enter your desired username:');
  pane.type(username);
  await pane.expect(` User: ${username}`);
  await choose(pane, '1');
  await pane.expect(`Identity registered successfully as '${username}'.`);
  await choose(pane, '2');
  await pane.expect(published);
}

async function sendMessage(pane: TmuxPane, peer: string, text: string): Promise<void> {
  await choose(pane, '6');
  await pane.expect('Enter name of peer:');
  pane.type(peer);
  await pane.expect('Message:');
  pane.type(text);
  await pane.expect('Message sent.');
}

async function readMessages(pane: TmuxPane, peer: string, expected: string): Promise<void> {
  await choose(pane, '7');
  await pane.expect('Enter name of peer:');
  pane.type(peer);
  await pane.expect(expected);
}

/**
 * Two devices in terminal panes: the handshake and one message each way. `published` is the
 * bundle line, which differs by protocol: v1 uploads 5 one-time prekeys, v2 fills a stock of 50.
 */
async function menuConversation(server: RunningKeyServer, t: TestContext, protocol: 'v1' | 'v2', published: string): Promise<void> {
  const dir = tempDir(t);
  const env = (name: string) => ({ ...server.deviceEnv, X3DH_PROTOCOL: protocol, X3DH_STORE: join(dir, `${name}.json`), TERM: 'xterm' });
  const alice = TmuxPane.start(socket, `alice-${protocol}`, CLI_COMMAND, env('alice'), REPO_ROOT);
  const bob = TmuxPane.start(socket, `bob-${protocol}`, CLI_COMMAND, env('bob'), REPO_ROOT);
  await setUp(alice, 'alice', published);
  await setUp(bob, 'bob', published);

  await choose(alice, '4');
  await alice.expect(' * alice (You)');
  await alice.expect('Enter name of peer to chat with:');
  alice.type('bob');
  await alice.expect('Enter initial message for bob:');
  alice.type('hello bob');
  await alice.expect('Initial message sent to bob (one-time prekey 0).');

  await choose(bob, '5');
  await bob.expect('--- Message from alice ---\nhello bob\n-----------------------');
  await sendMessage(bob, 'alice', 'hi alice');
  await readMessages(alice, 'bob', '[bob]: hi alice');
  await sendMessage(alice, 'bob', 'and hi again');
  await readMessages(bob, 'alice', '[alice]: and hi again');

  await choose(alice, 'q');
  await choose(bob, 'q');
  for (const pane of [alice, bob]) {
    for (let i = 0; i < 50 && !pane.dead(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(pane.dead(), `${pane.name}'s menu did not exit on (q)`);
    assert.doesNotMatch(pane.screen(), /Error|\n\s+at /, `${pane.name}'s screen shows an error`);
  }
}

describe('v1 on Mosquitto (TLS 1.3) and PostgreSQL', () => {
  let server: RunningKeyServer;
  before(async () => { server = await startMosquittoAndPostgres(); });
  after(() => server?.stop());
  test('v1: the interactive menu in a terminal: full handshake and one message each way',
    (t) => menuConversation(server, t, 'v1', 'Bundle published: signed prekey 1, one-time prekeys 0-4.'));
});

describe('v2 on the embedded defaults, as the README walkthrough', () => {
  let server: RunningKeyServer;
  before(async () => { server = await startEmbedded(); });
  after(() => server?.stop());
  test('v2: the interactive menu in a terminal: full handshake and one message each way',
    (t) => menuConversation(server, t, 'v2', 'Bundle published: signed prekey 1, one-time prekeys 0-49.'));
});

test('Ctrl-C at the menu prompt ends the menu with exit code 130 and says so; the store is saved', async (t) => {
  const store = join(tempDir(t), 'carol.json');
  const pane = TmuxPane.start(socket, 'interrupted', CLI_COMMAND, { X3DH_STORE: store, TERM: 'xterm' }, REPO_ROOT);
  await pane.expect('Please enter your desired username:');
  pane.type('carol');
  await pane.expect('Enter choice:');
  pane.press('C-c');
  for (let i = 0; i < 50 && !pane.dead(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(pane.dead(), 'the menu did not end on Ctrl-C');
  // The line is printed only on the way out with exit code 130 (CliExit); tmux reports the code too, when it has it.
  await pane.expect('Interrupted; the key store is saved and closed.');
  assert.ok([130, null].includes(pane.exitStatus()), `exit status ${pane.exitStatus()}`);
  assert.match(readFileSync(store, 'utf8'), /carol/);
});
