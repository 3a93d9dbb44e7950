/**
 * A value that is costly to read (a count over a whole table), read at most once per `maxAgeMs`:
 * callers within that time get the last reading, and callers while a read is in flight share it.
 * A failed read is not kept, so the next caller tries again.
 */
export class CachedReading<T> {
  private last: { value: T; at: number } | undefined;
  private inFlight: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    if (this.last !== undefined && this.now() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.value);
    this.inFlight ??= this.read().then((value) => {
      this.last = { value, at: this.now() };
      return value;
    }).finally(() => { this.inFlight = undefined; });
    return this.inFlight;
  }
}
