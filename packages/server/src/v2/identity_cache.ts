/** A device as its requests are checked before their transaction: its row id and identity key. */
export interface KnownIdentity {
  deviceId: string;
  identityKey: Uint8Array;
}

/**
 * Identity keys of devices seen recently, by name, most recently used last; bounded, the oldest
 * entry goes. Only a hint: a request verified under a remembered key still has the key confirmed
 * by its operation's statement (RequestIdGate.verifiedWith), so a key rotated or a device deleted
 * through another replica is never trusted, only looked up again.
 */
export class IdentityCache {
  private readonly entries = new Map<string, KnownIdentity>();

  constructor(private readonly capacity: number) {}

  get(device: string): KnownIdentity | undefined {
    const entry = this.entries.get(device);
    if (entry !== undefined) {
      this.entries.delete(device);
      this.entries.set(device, entry);
    }
    return entry;
  }

  remember(device: string, identity: KnownIdentity): void {
    this.entries.delete(device);
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(device, identity);
  }

  forget(device: string): void {
    this.entries.delete(device);
  }
}
