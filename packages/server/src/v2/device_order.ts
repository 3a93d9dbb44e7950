import type { Sql } from '../storage/database.js';

/**
 * Runs the requests of one device that share a transaction one after another, in arrival order:
 * the batch executor runs a batch's requests concurrently, and a device's checks (prekey ids,
 * stock, request ids) must see its earlier requests' writes.
 */
const tails = new WeakMap<Sql, Map<string, Promise<unknown>>>();

export function inDeviceOrder<T>(sql: Sql, device: string, work: () => Promise<T>): Promise<T> {
  let perDevice = tails.get(sql);
  if (perDevice === undefined) {
    perDevice = new Map();
    tails.set(sql, perDevice);
  }
  const previous = perDevice.get(device) ?? Promise.resolve();
  const run = previous.then(work, work);
  perDevice.set(device, run.catch(() => undefined));
  return run;
}
