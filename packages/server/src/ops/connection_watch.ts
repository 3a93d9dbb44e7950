/**
 * How long a connection (to the broker, to the database) has been down, from samples taken
 * periodically: readiness fails at the first failed sample, liveness only once the connection has
 * stayed down longer than its drivers take to reconnect, so that a stuck one gets the process
 * restarted while a short cut does not.
 */
export class ConnectionWatch {
  private downSince: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  sample(up: boolean): void {
    if (up) this.downSince = undefined;
    else this.downSince ??= this.now();
  }

  /** 0 while up. */
  downForMs(): number {
    return this.downSince === undefined ? 0 : this.now() - this.downSince;
  }
}
