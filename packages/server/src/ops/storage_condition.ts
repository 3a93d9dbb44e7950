/**
 * The store's last failure to write (disk full, input/output error), reported by `/readyz` until
 * `holdMs` pass without another: reads may still be answered meanwhile, but a load balancer or an
 * operator should know the server cannot take writes. Reads succeeding say nothing about writes,
 * so only time clears the condition.
 */
export class StorageCondition {
  private lastFailure: { at: number; reason: string } | undefined;

  constructor(private readonly holdMs: number, private readonly now: () => number = Date.now) {}

  failed(reason: string): void {
    this.lastFailure = { at: this.now(), reason };
  }

  /** Why the store cannot write, while a failure is recent; undefined otherwise. */
  problem(): string | undefined {
    if (this.lastFailure === undefined || this.now() - this.lastFailure.at >= this.holdMs) return undefined;
    return this.lastFailure.reason;
  }
}
