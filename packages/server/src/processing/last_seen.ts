import type { Database } from '../storage/database.js';
import { recordLastSeen } from '../storage/queries/fleet_queries.js';

/**
 * When each device's requests were last served, kept in memory and written in one statement per
 * flush: a write per request would double the database's work for a figure the operator reads
 * to the minute.
 */
export class LastSeen {
  private pending = new Map<string, Date>();

  seen(device: string): void {
    this.pending.set(device, new Date());
  }

  /** Writes what was seen since the last flush; kept for the next one if the write fails. */
  async flush(database: Database): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await database.transaction((sql) => recordLastSeen(sql, [...batch.keys()], [...batch.values()]));
    } catch (error) {
      for (const [device, time] of batch) if (!this.pending.has(device)) this.pending.set(device, time);
      throw error;
    }
  }
}
