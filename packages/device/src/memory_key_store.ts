import { emptyDeviceState, type DeviceState } from './device_state.js';
import type { KeyStore } from './key_store.js';

/** Keeps the state in memory only: for tests and for devices that must not persist keys. */
export class MemoryKeyStore implements KeyStore {
  private state: DeviceState = emptyDeviceState();

  async load(): Promise<DeviceState> {
    return structuredClone(this.state);
  }

  async save(state: DeviceState): Promise<void> {
    this.state = structuredClone(state);
  }

  async close(): Promise<void> {}
}
