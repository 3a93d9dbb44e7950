import type { CliDevice } from './cli_options.js';
import { checkMessageText } from './commands.js';
import { DeviceError } from '../errors.js';
import { SecureDevice } from '../v2/secure_device.js';
import { V2RequestError } from '../v2/v2_client.js';
import {
  formatIncomingSession, formatInitialSent, formatPublished, formatRead, formatRegistered, formatUsers,
} from './output.js';
import type { Prompter } from './prompter.js';

const RULE = '=========================================';

/** The firmware's menu, option for option; (q) is added because a terminal, unlike a board, can be left. */
export function menuText(username: string): string {
  return [
    '', RULE, ` User: ${username}`, RULE,
    ' (1) Register Identity',
    ' (2) Publish Bundle',
    ' (3) List Users',
    ' (4) Start Chat (Init X3DH)',
    ' (5) Check Inbox (Accept X3DH)',
    ' (6) Send Message',
    ' (7) Read Messages',
    ' (r) Reset Username',
    ' (q) Quit',
  ].join('\n');
}

/**
 * Runs the interactive menu until (q) or end of input. Expected failures (no server, no session,
 * refused requests) are printed as one line and the menu goes on, as on the device.
 */
export async function runMenu(device: CliDevice, prompter: Prompter, print: (text: string) => void): Promise<void> {
  if (!(await ensureUsername(device, prompter, print))) return;
  for (;;) {
    print(menuText(device.username!));
    const answer = await prompter.ask(' Enter choice: ');
    if (answer === null) return;
    const choice = answer.trim().charAt(0);
    if (choice === '') continue;
    if (choice === 'q') return;
    try {
      if (choice === 'r') {
        await device.resetUsername();
        print('Username erased.');
        if (!(await ensureUsername(device, prompter, print))) return;
        continue;
      }
      const step = steps[choice];
      if (!step) {
        print('Unknown command.');
        continue;
      }
      if ((await step(device, prompter, print)) === 'end') return;
    } catch (error) {
      if (!(error instanceof DeviceError)) throw error;
      print(`Error: ${error.message}`);
    }
  }
}

type Step = (device: CliDevice, prompter: Prompter, print: (text: string) => void) => Promise<'end' | void>;

const steps: Record<string, Step> = {
  '1': async (device, prompter, print) => {
    const newIdentity = device.identityKey === null;
    try {
      print(formatRegistered(await device.registerIdentity()));
    } catch (error) {
      // A v2 server without open enrolment wants the operator's token: ask for it rather than fail.
      if (!(device instanceof SecureDevice && error instanceof V2RequestError && error.code === 'enrolment_required')) throw error;
      const token = await askNonEmpty(prompter, 'Enrolment token (from the operator): ');
      if (token === null) return 'end';
      print(formatRegistered({ ...await device.registerIdentity({ token }), newIdentity }));
    }
  },
  '2': async (device, _prompter, print) => print(formatPublished(await device.publishBundle())),
  '3': async (device, _prompter, print) => print(formatUsers(await device.listUsers(), device.username)),
  '4': async (device, prompter, print) => {
    requireIdentity(device);
    await showUsers(device, print);
    const peer = await askNonEmpty(prompter, 'Enter name of peer to chat with: ');
    if (peer === null) return 'end';
    const text = await prompter.ask(`Enter initial message for ${peer}: `);
    if (text === null) return 'end';
    print(formatInitialSent(peer, await device.startSession(peer, text)));
  },
  '5': async (device, _prompter, print) => print(formatIncomingSession(await device.checkInbox())),
  '6': async (device, prompter, print) => {
    requireIdentity(device);
    await showUsers(device, print);
    const peer = await askNonEmpty(prompter, 'Enter name of peer: ');
    if (peer === null) return 'end';
    if (!device.peers.includes(peer)) {
      throw new DeviceError('NOT_READY', `no session with ${peer}: start one with (4) Start Chat, or accept theirs with (5) Check Inbox`);
    }
    const text = await prompter.ask('Message: ');
    if (text === null) return 'end';
    checkMessageText(text);
    await device.send(peer, text);
    print('Message sent.');
  },
  '7': async (device, prompter, print) => {
    requireIdentity(device);
    await showUsers(device, print);
    const peer = await askNonEmpty(prompter, 'Enter name of peer: ');
    if (peer === null) return 'end';
    print(formatRead(peer, await device.read(peer)));
  },
};

/** Steps that need keys say so before asking anything. */
function requireIdentity(device: CliDevice): void {
  if (device.identityKey === null) throw new DeviceError('NOT_READY', 'no identity key yet: choose (1) Register Identity first');
}

/** The firmware lists users before asking for a peer; a failed listing should not block the step. */
async function showUsers(device: CliDevice, print: (text: string) => void): Promise<void> {
  try {
    print(formatUsers(await device.listUsers(), device.username));
  } catch (error) {
    if (!(error instanceof DeviceError)) throw error;
    print(`Error: ${error.message}`);
  }
}

async function askNonEmpty(prompter: Prompter, question: string): Promise<string | null> {
  for (;;) {
    const answer = await prompter.ask(question);
    if (answer === null || answer.trim() !== '') return answer?.trim() ?? null;
  }
}

/** First run: ask for a username until a valid one is given. False when input ended. */
async function ensureUsername(device: CliDevice, prompter: Prompter, print: (text: string) => void): Promise<boolean> {
  while (device.username === null) {
    const answer = await prompter.ask('\n--- Setup ---\nNo username found in the key store.\nPlease enter your desired username: ');
    if (answer === null) return false;
    try {
      await device.setUsername(answer.trim());
      print(`Username '${device.username}' saved.`);
    } catch (error) {
      if (!(error instanceof DeviceError) || error.kind !== 'INVALID_INPUT') throw error;
      print(`Invalid username: ${error.message}`);
    }
  }
  return true;
}
