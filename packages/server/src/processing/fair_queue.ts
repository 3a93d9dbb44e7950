/**
 * Requests waiting for a transaction, one first-in first-out queue per sender, served round robin:
 * a batch takes one request of each waiting sender in turn, so a sender with many requests waiting
 * delays another sender's request by one request per batch, not by all of its own. Each sender's
 * requests keep their order.
 */
export class FairQueue<T> {
  /** Senders with requests waiting, in the order they are served next (a Map keeps insertion order). */
  private readonly senders = new Map<string, T[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Requests of this sender waiting. */
  waiting(sender: string): number {
    return this.senders.get(sender)?.length ?? 0;
  }

  push(sender: string, item: T): void {
    const queue = this.senders.get(sender);
    if (queue === undefined) this.senders.set(sender, [item]);
    else queue.push(item);
    this.count += 1;
  }

  /** Takes up to `max` requests, one per sender in turn; a sender served goes to the back of the line. */
  take(max: number): T[] {
    const taken: T[] = [];
    if (max <= 0) return taken;
    // A sender put back at the end is visited again by this same loop, after the others.
    for (const [sender, queue] of this.senders) {
      taken.push(queue.shift()!);
      this.count -= 1;
      this.senders.delete(sender);
      if (queue.length > 0) this.senders.set(sender, queue);
      if (taken.length === max) break;
    }
    return taken;
  }
}
