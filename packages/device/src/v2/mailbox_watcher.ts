import { EventEmitter } from 'node:events';
import type { SecureDevice } from './secure_device.js';

export interface MailboxWatcherEvents {
  /** A read or an upkeep failed, or a message was refused (reported once per message); watching goes on. */
  problem: [Error];
}

const HOUR_MS = 3600 * 1000;

/**
 * Keeps a v2 device up to date while it runs: pushed messages are accepted as they come, the
 * mailbox is read at start, after each reconnection and every `intervalMs` as a safety net (pushes
 * are only a hint), prekeys are refilled on `prekeys_low` and the signed prekey rotated on its
 * schedule (checked hourly). Accepted texts are shown through the device's `session` and `message`
 * events.
 */
export class MailboxWatcher extends EventEmitter<MailboxWatcherEvents> {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private showing: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastUpkeep = 0;
  private readonly reported = new Set<string>();
  private readonly onUnread = () => { this.show(); };
  private readonly onProblem = (error: Error) => { this.emit('problem', error); };

  constructor(private readonly device: SecureDevice, private readonly intervalMs = 30_000) {
    super();
  }

  start(): this {
    this.device.on('unread', this.onUnread);
    this.device.on('problem', this.onProblem);
    this.device.listen();
    this.schedule(0);
    return this;
  }

  /** Stops reading and waits for work in progress to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    await this.showing;
    this.device.off('unread', this.onUnread);
    this.device.off('problem', this.onProblem);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => this.schedule(this.intervalMs));
    }, delayMs);
  }

  private async poll(): Promise<void> {
    try {
      const { problems } = await this.device.syncMailbox();
      for (const problem of problems) {
        if (this.reported.has(problem.mailboxId)) continue;
        this.reported.add(problem.mailboxId);
        this.emit('problem', problem.error);
      }
      if (Date.now() - this.lastUpkeep >= HOUR_MS) {
        this.lastUpkeep = Date.now();
        await this.device.maintain();
      }
    } catch (error) {
      this.emit('problem', error instanceof Error ? error : new Error(String(error)));
    }
    this.show();
  }

  private show(): void {
    this.showing = this.showing.then(() => this.device.takeUnread()).then(() => undefined, (error: unknown) => {
      this.emit('problem', error instanceof Error ? error : new Error(String(error)));
    });
  }
}
