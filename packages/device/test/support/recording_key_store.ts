import { MemoryKeyStore, type DeviceState } from '../../src/index.js';

/**
 * A memory key store that notes each save in `events` (with the unread count, to order saves
 * against requests noted there too) and fails every save while `failing` is set (a full disk).
 */
export class RecordingKeyStore extends MemoryKeyStore {
  failing = false;

  constructor(readonly events: string[]) {
    super();
  }

  override async save(state: DeviceState): Promise<void> {
    if (this.failing) throw new Error('disk full');
    this.events.push(`save unread=${state.v2.unread.length}`);
    await super.save(state);
  }
}
