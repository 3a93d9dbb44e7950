import type { DeviceState } from './device_state.js';

/**
 * Where a device keeps its state. `save` must be atomic: after a crash at any moment, `load`
 * returns either the previous or the new state, never a mixture.
 */
export interface KeyStore {
  /** The saved state, or an empty state when nothing was saved yet. */
  load(): Promise<DeviceState>;
  save(state: DeviceState): Promise<void>;
  /** Releases what the store holds (locks, cached keys). */
  close(): Promise<void>;
}
