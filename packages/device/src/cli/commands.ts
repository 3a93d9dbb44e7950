import { Option, type Command } from 'commander';
import { encodeBase64url, wireV1 } from '@x3dh-iot/protocol';
import { Device } from '../device.js';
import { DeviceError } from '../errors.js';
import { InboxWatcher } from '../inbox_watcher.js';
import { MailboxWatcher } from '../v2/mailbox_watcher.js';
import { SecureDevice } from '../v2/secure_device.js';
import { openCliDevice, TOKEN_ENV, type CliDevice, type GlobalOptions } from './cli_options.js';
import {
  formatIncomingSession, formatInitialSent, formatPublished, formatRead, formatRegistered, formatUsers,
} from './output.js';
import { formatProblems, formatSafetyNumber, formatStatusV2, formatTrusted } from './v2_output.js';

/** What a subcommand produced: the JSON form for `--json`, and the text for people. */
interface Result {
  json: Record<string, unknown>;
  text: string;
}

type Action = (device: CliDevice, args: string[], options: Record<string, string | boolean | undefined>) => Promise<Result>;

/** Opens the device, runs one action, prints its result and closes the device, also on failure. */
async function run(command: Command, args: string[], action: Action, create: boolean): Promise<void> {
  const options = command.optsWithGlobals<GlobalOptions>();
  const device = await openCliDevice(options, { create });
  try {
    const result = await action(device, args, command.opts());
    console.log(options.json ? JSON.stringify({ ok: true, ...result.json }) : result.text);
  } finally {
    await device.close();
  }
}

function requireUsername(device: CliDevice): string {
  if (device.username === null) throw new DeviceError('NOT_READY', 'no username set: run `register <username>` or the menu first');
  return device.username;
}

function requireV2(device: CliDevice, what: string): SecureDevice {
  if (!(device instanceof SecureDevice)) throw new DeviceError('INVALID_INPUT', `${what} needs wire protocol v2 (drop --protocol v1)`);
  return device;
}

const register: Action = async (device, [username], { token }) => {
  const previousUsername = device.username;
  if (username !== undefined && username !== device.username) await device.setUsername(username);
  requireUsername(device);
  try {
    const result = device instanceof SecureDevice
      ? await device.registerIdentity({ token: typeof token === 'string' ? token : undefined })
      : await device.registerIdentity();
    return { json: { ...result }, text: formatRegistered(result) };
  } catch (error) {
    // Refused: nothing was registered, so the store goes back to the name it had before.
    if (error instanceof DeviceError && error.kind === 'SERVER_REFUSED' && previousUsername !== device.username) {
      if (previousUsername === null) await device.resetUsername();
      else await device.setUsername(previousUsername);
    }
    throw error;
  }
};

const publish: Action = async (device, _args, { count }) => {
  const n = count === undefined ? undefined : Number(count);
  const result = device instanceof SecureDevice ? await device.publishBundle(n) : await device.publishBundle(n ?? 5);
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

/** v2 shows what was refused too (a changed identity key, a replay), since those stay in the mailbox. */
const inbox: Action = async (device) => {
  if (device instanceof Device) {
    const session = await device.checkInbox();
    return { json: { session }, text: formatIncomingSession(session) };
  }
  const { session, problems } = await device.inbox();
  const changed = problems.find((p) => p.error.kind === 'IDENTITY_CHANGED');
  if (session === null && changed) throw changed.error;
  return {
    json: { session, problems: problems.map((p) => ({ mailboxId: p.mailboxId, peer: p.peer, kind: p.error.kind, message: p.error.message })) },
    text: [formatIncomingSession(session), ...formatProblems(problems)].join('\n'),
  };
};

const send: Action = async (device, [peer, text]) => {
  checkMessageText(text!);
  await device.send(peer!, text!);
  return { json: { peer }, text: 'Message sent.' };
};

const read: Action = async (device, [peer]) => {
  if (device instanceof Device) {
    const result = await device.read(peer!);
    return { json: { peer, ...result }, text: formatRead(peer!, result) };
  }
  const { messages, problems } = await device.read(peer!);
  return {
    json: { peer, messages, undecryptable: problems.length },
    text: [formatRead(peer!, { messages, undecryptable: 0 }), ...formatProblems(problems)].join('\n'),
  };
};

const reset: Action = async (device) => {
  await device.resetUsername();
  return { json: {}, text: 'Username erased. Identity keys and sessions are kept.' };
};

/**
 * v1: firmware flash names (`sk_<hash>`, `opk_<id>`) are shown so the state can be compared with a
 * device's flash. v2: prekey stock and signed prekey age, from the key store, and from the server
 * with --server.
 */
const status: Action = async (device, _args, { server }) => {
  if (device instanceof SecureDevice) {
    const local = device.localStatus;
    const remote = server ? await device.preKeyStatus() : null;
    return { json: { ...local, server: remote }, text: formatStatusV2(local, remote) };
  }
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

const safetyNumber: Action = async (device, [peer]) => {
  const report = await requireV2(device, 'safety-number').safetyNumber(peer!);
  return { json: { ...report }, text: formatSafetyNumber(report) };
};

const trust: Action = async (device, [peer, ...digits]) => {
  const trusted = await requireV2(device, 'trust').trust(peer!, digits.join(''));
  return { json: { ...trusted }, text: formatTrusted(trusted) };
};

const deleteDevice: Action = async (device, _args, { yes }) => {
  const secure = requireV2(device, 'delete-device');
  if (!yes) throw new DeviceError('INVALID_INPUT', 'delete-device deletes this device\'s prekeys and mailbox on the server: add --yes');
  await secure.deleteDevice();
  return {
    json: { deleted: requireUsername(device) },
    text: `Device ${device.username} deleted on the server. The name stays reserved for this identity key: register again to restore it.`,
  };
};

const rotateIdentity: Action = async (device, _args, { yes }) => {
  const secure = requireV2(device, 'rotate-identity');
  if (!yes) throw new DeviceError('INVALID_INPUT', 'rotate-identity replaces the identity key: peers must accept the new one (trust) and start new sessions; add --yes');
  const result = await secure.rotateIdentity();
  return {
    json: { ...result },
    text: [
      `New identity key ${result.identityKey}; new prekeys published (signed prekey ${result.signedPreKeyId}).`,
      'Sessions were dropped. Tell your peers: they will see a changed key and must compare the new safety number before they trust it.',
    ].join('\n'),
  };
};

/**
 * Prints handshakes and messages as they arrive (one JSON object per line with --json) until
 * SIGINT or SIGTERM: v1 polls, v2 takes pushes and reads the mailbox now and then as a safety net.
 */
async function watch(command: Command): Promise<void> {
  const options = command.optsWithGlobals<GlobalOptions & { interval?: string }>();
  const intervalMs = Number(options.interval ?? (options.protocol === 'v1' ? 2000 : 30_000));
  if (!Number.isInteger(intervalMs) || intervalMs < 100) throw new DeviceError('INVALID_INPUT', '--interval must be a whole number of milliseconds, at least 100');
  const device = await openCliDevice(options);
  try {
    requireUsername(device);
    if (device.identityKey === null) throw new DeviceError('NOT_READY', 'no identity key: register first');
    const print = (json: Record<string, unknown>, text: string) => console.log(options.json ? JSON.stringify(json) : text);
    const onSession = (session: { peer: string; text: string; identityChanged: boolean }) =>
      print({ event: 'session', ...session }, formatIncomingSession(session));
    const onMessage = ({ peer, text }: { peer: string; text: string }) =>
      print({ event: 'message', peer, text }, formatRead(peer, { messages: [text], undecryptable: 0 }));
    const onProblem = (error: Error) => (options.json
      ? console.log(JSON.stringify({ event: 'problem', message: error.message }))
      : console.error(`Error: ${error.message}`));
    let watcher: InboxWatcher | MailboxWatcher;
    if (device instanceof SecureDevice) {
      device.on('session', onSession);
      device.on('message', onMessage);
      watcher = new MailboxWatcher(device, intervalMs);
    } else {
      device.on('session', onSession);
      device.on('message', onMessage);
      watcher = new InboxWatcher(device, intervalMs);
    }
    watcher.on('problem', onProblem);
    const stopped = new Promise((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    watcher.start();
    if (!options.json) {
      console.error(device instanceof SecureDevice
        ? `Watching for handshakes and messages to ${device.username} (pushed; mailbox read every ${intervalMs} ms too; Ctrl-C to stop).`
        : `Watching for handshakes and messages to ${device.username} every ${intervalMs} ms (Ctrl-C to stop).`);
    }
    await stopped;
    await watcher.stop();
  } finally {
    await device.close();
  }
}

/** A message must say something: an empty one would arrive as nothing and still use a message key. */
export function checkMessageText(text: string): void {
  if (text.length === 0) throw new DeviceError('INVALID_INPUT', 'the message is empty: nothing was sent');
}

/** The non-interactive subcommands, for scripts and tests. */
export function addSubcommands(program: Command): void {
  const define = (spec: string, description: string, action: Action) =>
    program.command(spec).description(description).action(async (...params: unknown[]) => {
      const command = params.at(-1) as Command;
      await run(command, command.args, action, action === register);
    });
  const registerText = 'register the identity key (created on first use) under the username, set first if given; v2: enrol, with a token unless the server runs open enrolment';
  for (const name of ['register', 'enroll']) {
    define(`${name} [username]`, name === 'register' ? registerText : 'the same as register', register)
      .addOption(new Option('--token <token>', 'v2 enrolment token from the operator (x3dh-server token issue); write --token=<token>, as a token may begin with -').env(TOKEN_ENV));
  }
  define('publish', 'v1: create a new signed prekey and one-time prekeys and upload the bundle (replacing the one on the server); v2: upload a new signed prekey and add one-time prekeys (ids only grow)', publish)
    .option('--count <n>', 'one-time prekeys to upload (v1 default 5, as the firmware; v2 default: up to a stock of 50)');
  define('users', 'list registered users', users);
  for (const name of ['init', 'start']) {
    define(`${name} <peer> <text>`, name === 'init'
      ? 'start a session with peer (X3DH) and send the first message; v2 pins the peer\'s identity key on first contact'
      : 'the same as init', init);
  }
  define('inbox', 'accept one pending session request (X3DH) and show its first message; v2 reads the whole mailbox and reports refused messages', inbox);
  define('send <peer> <text>', 'send a message to a peer you have a session with', send);
  define('read <peer>', 'fetch and show the pending messages from peer', read);
  define('reset', 'forget the username (keys and sessions are kept), as the firmware does', reset);
  define('status', 'show the username, identity key, sessions and prekeys in the key store (v2: prekey counts and signed prekey age)', status)
    .option('--server', 'v2: also ask the server for its prekey stock');
  define('safety-number <peer>', 'v2: show the 60-digit safety number to compare with peer out of band (warns when the peer\'s key changed)', safetyNumber);
  define('trust <peer> <safety-number...>', 'v2: pin the identity key the directory holds for peer as verified, only if the safety number (as you compared it with peer out of band; its blanks may be typed) is that key\'s', trust);
  define('rotate-identity', 'v2: replace the identity key (signed by the old key, with proof of the new one) and publish new prekeys', rotateIdentity)
    .option('--yes', 'confirm');
  define('delete-device', 'v2: delete this device\'s prekeys and mailbox on the server (the name stays reserved for its key)', deleteDevice)
    .option('--yes', 'confirm');
  program.command('watch').description('print handshakes and messages as they arrive, until Ctrl-C (v1 polls; v2 takes pushes)')
    .option('--interval <ms>', 'poll interval (v1 default 2000; v2 reads the mailbox this often besides pushes, default 30000)')
    .action((_options: unknown, command: Command) => watch(command));
}
