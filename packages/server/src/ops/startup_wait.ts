import type { Logger } from 'pino';
import { isNotReachableYet } from './not_reachable_yet.js';

export interface StartupWaitOptions {
  /** How long start-up may wait in all for the database and the broker; 0 gives up at the first failure. */
  boundMs: number;
  firstDelayMs?: number;
  longestDelayMs?: number;
}

/**
 * Start-up waits for a database or broker that is not up yet (a cluster starting, a primary being
 * replaced) instead of exiting at once and being restarted in a loop: each failed attempt is logged
 * with the next delay, which doubles up to a cap, with jitter so that replicas started together do
 * not knock in step. One deadline covers the whole start-up; past it, the last error is thrown.
 * Failures that waiting cannot mend (refused login, bad certificate) are thrown at once.
 *
 * Written here rather than taken from a retry library: the log line must say the delay actually
 * chosen, which p-retry and exponential-backoff keep to themselves once they add jitter.
 */
export class StartupWait {
  private readonly deadline: number;
  private readonly firstDelayMs: number;
  private readonly longestDelayMs: number;

  constructor(private readonly options: StartupWaitOptions, private readonly log: Logger) {
    this.deadline = Date.now() + options.boundMs;
    this.firstDelayMs = options.firstDelayMs ?? 250;
    this.longestDelayMs = options.longestDelayMs ?? 10_000;
  }

  /** Runs `attempt` until it succeeds, a failure is not "not reachable yet", or the deadline passes. */
  async until<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let number = 1; ; number += 1) {
      try {
        const result = await attempt();
        if (number > 1) this.log.info({ waitingFor: what, attempt: number }, `${what} reachable: start-up continues`);
        return result;
      } catch (error) {
        const left = this.deadline - Date.now();
        if (!isNotReachableYet(error)) throw error;
        if (left <= 0) {
          if (this.options.boundMs > 0) {
            this.log.error({ waitingFor: what, attempt: number, startupWaitMs: this.options.boundMs },
              `${what} still not reachable after waiting ${Math.round(this.options.boundMs / 1000)} s (--startup-wait): giving up`);
          }
          throw error;
        }
        const delay = Math.min(left, this.delay(number));
        this.log.warn({ waitingFor: what, attempt: number, retryInMs: delay, reason: (error as Error).message },
          `${what} not reachable yet: attempt ${number} failed, next in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Doubling from the first delay up to the longest, then a random 50-100 % of it. */
  private delay(attempt: number): number {
    const capped = Math.min(this.longestDelayMs, this.firstDelayMs * 2 ** Math.min(attempt - 1, 30));
    return Math.round(capped * (0.5 + Math.random() / 2));
  }
}
