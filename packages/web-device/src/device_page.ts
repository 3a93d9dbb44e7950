import { SecureDevice } from '@x3dh-iot/device/browser';
import { decodeBase64url, wireV2 } from '@x3dh-iot/protocol';
import { webSocketLinks } from './broker_link.js';
import { ConversationLog } from './conversation_log.js';
import { KeyValueDatabase } from './indexed_db.js';
import { IndexedDbKeyStore } from './indexeddb_key_store.js';
import { element, show } from './page_elements.js';

const DATABASE = 'x3dh-device';
const TIMEOUT_MS = 20_000;

/**
 * What is saved unsealed beside the keys: nothing secret. The deployment id and operator key come
 * with the page (from the server that serves its code, so trusted as much as the code) and are kept
 * from the enrolment on: a later answer cannot change whom this device's peers are certified by.
 */
interface PageSettings {
  brokerUrl: string;
  deploymentId: string;
  operatorPublicKey: string;
}

type ProposedSettings = Partial<PageSettings>;

const status = element('status', HTMLParagraphElement);

function report(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle('error', error);
}

/** Runs a user action, showing its progress and any failure in the status line. */
function action(busy: string, work: () => Promise<string | void>): void {
  report(busy);
  work().then((done) => done !== undefined && report(done), (error: Error) => report(error.message, true));
}

/** The broker and provisioning the server proposes (`settings.json` beside the page), for a first enrolment. */
async function proposedSettings(): Promise<ProposedSettings> {
  const response = await fetch('settings.json').catch(() => null);
  if (!response?.ok) return {};
  const body = await response.json() as Record<string, unknown>;
  const text = (key: string) => (typeof body[key] === 'string' ? body[key] : undefined);
  return { brokerUrl: text('brokerUrl'), deploymentId: text('deploymentId'), operatorPublicKey: text('operatorPublicKey') };
}

export async function startDevicePage(): Promise<void> {
  const db = await KeyValueDatabase.open(DATABASE, 'records');
  const hasDevice = await IndexedDbKeyStore.exists(db);
  element('unlock-hint', HTMLParagraphElement).textContent = hasDevice
    ? 'Enter the passphrase that seals this browser\'s device keys.'
    : 'No device in this browser yet: choose a passphrase (8 characters or more) to seal its keys.';
  element('unlock-form', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    action('Unlocking...', async () => {
      const store = await IndexedDbKeyStore.open(db, element('passphrase', HTMLInputElement).value);
      const settings = (await db.get('settings')) as PageSettings | undefined;
      show(element('unlock', HTMLElement), false);
      const state = await store.load();
      if (settings?.deploymentId !== undefined && state.username !== null && state.identity !== null) {
        await showDevice(await openDevice(store, settings), settings.brokerUrl);
        return `Unlocked ${state.username}`;
      }
      await showEnrolment(db, store);
      return 'Unlocked: enrol this device';
    });
  });
}

async function showEnrolment(db: KeyValueDatabase, store: IndexedDbKeyStore): Promise<void> {
  const brokerInput = element('broker-url', HTMLInputElement);
  const proposed = await proposedSettings();
  brokerInput.value ||= proposed.brokerUrl ?? '';
  show(element('enrol', HTMLElement), true);
  element('enrol-form', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    action('Enrolling...', async () => {
      const { deploymentId, operatorPublicKey } = proposed;
      if (deploymentId === undefined || operatorPublicKey === undefined) {
        throw new Error('the server gave no deployment id and operator key (settings.json): this page cannot verify its peers');
      }
      const settings: PageSettings = { brokerUrl: brokerInput.value.trim(), deploymentId, operatorPublicKey };
      const device = await openDevice(store, settings);
      try {
        await device.setUsername(element('device-name', HTMLInputElement).value.trim());
        const token = element('token', HTMLInputElement).value.trim();
        await device.registerIdentity({ token: token === '' ? undefined : token });
        await device.publishBundle();
      } catch (error) {
        await device.close();
        throw error;
      }
      await db.put('settings', settings);
      show(element('enrol', HTMLElement), false);
      await showDevice(device, settings.brokerUrl);
      return `Enrolled ${device.username}; prekeys published`;
    });
  });
}

function openDevice(store: IndexedDbKeyStore, settings: PageSettings): Promise<SecureDevice> {
  return SecureDevice.open(store, webSocketLinks(settings.brokerUrl, TIMEOUT_MS), {
    client: { timeoutMs: TIMEOUT_MS },
    provisioning: { deploymentId: settings.deploymentId, operatorKey: decodeBase64url(settings.operatorPublicKey, 'operator key') },
  });
}

async function showDevice(device: SecureDevice, brokerUrl: string): Promise<void> {
  const log = new ConversationLog();
  const peerList = element('peers', HTMLUListElement);
  const send = element('send', HTMLButtonElement);
  const safety = element('safety', HTMLButtonElement);
  const safetyNumber = element('safety-number', HTMLElement);
  let peer: string | null = null;
  element('me', HTMLElement).textContent = device.username;
  element('broker', HTMLElement).textContent = brokerUrl;
  show(element('device', HTMLElement), true);

  const choose = (name: string) => {
    peer = name;
    element('peer-title', HTMLHeadingElement).textContent = name;
    for (const button of Array.from(peerList.querySelectorAll('button'))) button.setAttribute('aria-pressed', String(button.textContent === name));
    send.disabled = false;
    safety.disabled = false;
    safetyNumber.textContent = '';
    log.show(name);
  };
  const refreshPeers = async () => {
    const names = (await device.listUsers()).filter((name) => name !== device.username);
    peerList.replaceChildren(...names.map((name) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = name;
      button.setAttribute('aria-pressed', String(name === peer));
      button.addEventListener('click', () => choose(name));
      item.append(button);
      return item;
    }));
    return `${names.length} peer${names.length === 1 ? '' : 's'}`;
  };

  device.on('unread', () => void device.takeUnread().then((texts) => {
    for (const text of texts) log.add(text.peer, 'in', text.text);
    if (texts.length > 0) report(`New message from ${texts.at(-1)!.peer}`);
  }, (error: Error) => report(error.message, true)));
  device.on('problem', (error) => report(error.message, true));
  device.listen();

  element('refresh-peers', HTMLButtonElement).addEventListener('click', () => action('Listing peers...', refreshPeers));
  element('send-form', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    const to = peer;
    const input = element('text', HTMLInputElement);
    const text = input.value;
    if (to === null || text === '') return;
    action(`Sending to ${to}...`, async () => {
      // The first message to a peer carries the X3DH handshake; later ones go through the ratchet.
      if (device.peers.includes(to)) await device.send(to, text);
      else await device.startSession(to, text);
      input.value = '';
      log.add(to, 'out', text);
      return `Sent to ${to}`;
    });
  });
  safety.addEventListener('click', () => {
    const of = peer;
    if (of === null) return;
    action('Computing the safety number...', async () => {
      const number = await device.safetyNumber(of);
      safetyNumber.textContent = wireV2.formatSafetyNumber(number.safetyNumber);
      if (number.changed) throw new Error(`${of}'s identity key in the directory changed since it was pinned: do not trust it before comparing the new number ${number.directorySafetyNumber}`);
      return `Safety number with ${of}${number.verified ? ' (verified)' : ''}: compare it with the one ${of} shows`;
    });
  });
  await refreshPeers();
  // Reads what arrived while this page was closed; pushes bring the rest.
  const { problems } = await device.syncMailbox();
  for (const problem of problems) report(problem.error.message, true);
}
