import { EventEmitter } from 'node:events';
import type { Device } from './device.js';

export interface InboxWatcherEvents {
  /** A poll failed (broker away, a message that did not open); polling goes on. */
  problem: [Error];
}

/**
 * Wire v1 has no push, so incoming data is found by asking. A watcher polls at an interval for
 * pending handshakes and for messages from every peer the device has a session with; the device then
 * emits its `session` and `message` events without anyone calling checkInbox or read.
 */
export class InboxWatcher extends EventEmitter<InboxWatcherEvents> {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly device: Device, private readonly intervalMs = 2000) {
    super();
  }

  start(): this {
    this.schedule(0);
    return this;
  }

  /** Stops polling and waits for a poll in progress to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => this.schedule(this.intervalMs));
    }, delayMs);
  }

  private async poll(): Promise<void> {
    try {
      while (!this.stopped && (await this.device.checkInbox()) !== null);
      for (const peer of this.device.peers) {
        if (this.stopped) return;
        await this.device.read(peer);
      }
    } catch (error) {
      this.emit('problem', error instanceof Error ? error : new Error(String(error)));
    }
  }
}
