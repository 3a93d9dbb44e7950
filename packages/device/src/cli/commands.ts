import type { Command } from 'commander';
import { encodeBase64url, wireV1 } from '@x3dh-iot/protocol';
import type { Device } from '../device.js';
import { DeviceError } from '../errors.js';
import { InboxWatcher } from '../inbox_watcher.js';
import { openCliDevice, type GlobalOptions } from './cli_options.js';
import {
  formatIncomingSession, formatInitialSent, formatPublished, formatRead, formatRegistered, formatUsers,
} from './output.js';

/** What a subcommand produced: the JSON form for `--json`, and the text for people. */
interface Result {
  json: Record<string, unknown>;
  text: string;
}

type Action = (device: Device, args: string[], options: Record<string, string>) => Promise<Result>;

/** Opens the device, runs one action, prints its result and closes the device, also on failure. */
async function run(command: Command, args: string[], action: Action): Promise<void> {
  const options = command.optsWithGlobals<GlobalOptions>();
  const device = await openCliDevice(options);
  try {
    const result = await action(device, args, command.opts());
    console.log(options.json ? JSON.stringify({ ok: true, ...result.json }) : result.text);
  } finally {
    await device.close();
  }
}

function requireUsername(device: Device): string {
  if (device.username === null) throw new DeviceError('NOT_READY', 'no username set: run `register <username>` or the menu first');
  return device.username;
}

const register: Action = async (device, [username]) => {
  if (username !== undefined && username !== device.username) await device.setUsername(username);
  requireUsername(device);
  const result = await device.registerIdentity();
  return { json: { ...result }, text: formatRegistered(result) };
};

const publish: Action = async (device, _args, { count }) => {
  const result = await device.publishBundle(Number(count));
  return { json: { ...result }, text: formatPublished(result) };
};

const users: Action = async (device) => {
  const list = await device.listUsers();
  return { json: { users: list }, text: formatUsers(list, device.username) };
};

const init: Action = async (device, [peer, text]) => {
  const result = await device.startSession(peer!, text!);
  return { json: { peer, ...result }, text: formatInitialSent(peer!, result) };
};

const inbox: Action = async (device) => {
  const session = await device.checkInbox();
  return { json: { session }, text: formatIncomingSession(session) };
};

const send: Action = async (device, [peer, text]) => {
  await device.send(peer!, text!);
  return { json: { peer }, text: 'Message sent.' };
};

const read: Action = async (device, [peer]) => {
  const result = await device.read(peer!);
  return { json: { peer, ...result }, text: formatRead(peer!, result) };
};

const reset: Action = async (device) => {
  await device.resetUsername();
  return { json: {}, text: 'Username erased. Identity keys and sessions are kept.' };
};

/** Firmware flash names (`sk_<hash>`, `opk_<id>`) are shown so the state can be compared with a device's flash. */
const status: Action = async (device) => {
  const identityKey = device.identityKey === null ? null : encodeBase64url(device.identityKey);
  const sessions = device.peers.map((peer) => ({ peer, flashName: wireV1.sessionKeyNvsName(peer) }));
  const { signed, oneTime } = device.preKeyIds;
  const json = { username: device.username, identityKey, sessions, signedPreKeyIds: signed, oneTimePreKeyIds: oneTime };
  const text = [
    `User: ${device.username ?? '(none)'}`,
    `Identity key: ${identityKey ?? '(none: register first)'}`,
    `Sessions: ${sessions.length === 0 ? '(none)' : sessions.map((s) => `${s.peer} (${s.flashName})`).join(', ')}`,
    `Signed prekeys held: ${signed.length === 0 ? '(none)' : signed.join(', ')}`,
    `One-time prekeys held: ${oneTime.length === 0 ? '(none)' : oneTime.map(wireV1.oneTimePreKeyNvsName).join(', ')}`,
  ].join('\n');
  return { json, text };
};

/**
 * Prints handshakes and messages as they arrive (one JSON object per line with --json) until
 * SIGINT or SIGTERM.
 */
async function watch(command: Command): Promise<void> {
  const options = command.optsWithGlobals<GlobalOptions & { interval: string }>();
  const intervalMs = Number(options.interval);
  if (!Number.isInteger(intervalMs) || intervalMs < 100) throw new DeviceError('INVALID_INPUT', '--interval must be a whole number of milliseconds, at least 100');
  const device = await openCliDevice(options);
  try {
    requireUsername(device);
    if (device.identityKey === null) throw new DeviceError('NOT_READY', 'no identity key: register first');
    const print = (json: Record<string, unknown>, text: string) => console.log(options.json ? JSON.stringify(json) : text);
    device.on('session', (session) => print({ event: 'session', ...session }, formatIncomingSession(session)));
    device.on('message', ({ peer, text }) => print({ event: 'message', peer, text }, formatRead(peer, { messages: [text], undecryptable: 0 })));
    const watcher = new InboxWatcher(device, intervalMs);
    watcher.on('problem', (error) => (options.json
      ? console.log(JSON.stringify({ event: 'problem', message: error.message }))
      : console.error(`Error: ${error.message}`)));
    const stopped = new Promise((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    watcher.start();
    if (!options.json) console.error(`Watching for handshakes and messages to ${device.username} every ${intervalMs} ms (Ctrl-C to stop).`);
    await stopped;
    await watcher.stop();
  } finally {
    await device.close();
  }
}

/** The non-interactive subcommands, for scripts and tests. */
export function addSubcommands(program: Command): void {
  const define = (spec: string, description: string, action: Action) =>
    program.command(spec).description(description).action(async (...params: unknown[]) => {
      const command = params.at(-1) as Command;
      await run(command, command.args, action);
    });
  define('register [username]', 'register the identity key (created on first use) under the username, set first if given', register);
  define('publish', 'create a new signed prekey and one-time prekeys and upload the bundle (replacing the one on the server)', publish)
    .option('--count <n>', 'one-time prekeys to upload (the firmware uploads 5)', '5');
  define('users', 'list registered users', users);
  define('init <peer> <text>', 'start a session with peer (X3DH) and send the first message', init);
  define('inbox', 'accept one pending session request (X3DH) and show its first message', inbox);
  define('send <peer> <text>', 'send a message to a peer you have a session with', send);
  define('read <peer>', 'fetch and show the pending messages from peer', read);
  define('reset', 'forget the username (keys and sessions are kept), as the firmware does', reset);
  define('status', 'show the username, identity key, sessions and prekey ids in the key store (no network)', status);
  program.command('watch').description('poll for handshakes and messages and print them as they arrive, until Ctrl-C')
    .option('--interval <ms>', 'poll interval', '2000')
    .action((_options: unknown, command: Command) => watch(command));
}
