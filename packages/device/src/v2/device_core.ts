import { wireV2 } from '@x3dh-iot/protocol';
import type { DeviceState } from '../device_state.js';
import { DeviceError } from '../errors.js';
import type { KeyStore } from '../key_store.js';
import type { DeviceProvisioning } from './provisioning.js';
import { type IdentityKeyPair, identityKeyPair } from './keys.js';
import { V2Client, type V2ClientOptions } from './v2_client.js';
import type { V2Link, V2LinkFactory } from './v2_link.js';

/**
 * What every part of a v2 device shares: the saved state with its one way of changing it, the
 * connection to the server, and the clock. Each concept (sessions, mailbox, pins, prekeys,
 * identity rotation) is a module of its own working through this core.
 */
export class DeviceCore {
  private current: DeviceState;
  private updates: Promise<void> = Promise.resolve();
  private exclusiveChain: Promise<unknown> = Promise.resolve();
  private connection: { name: string; link: V2Link; client: V2Client } | null = null;
  closed = false;

  constructor(
    private readonly store: KeyStore,
    state: DeviceState,
    private readonly linkFactory: V2LinkFactory,
    private readonly clientOptions: V2ClientOptions | undefined,
    readonly now: () => Date,
    /** The deployment id requests are signed for and the operator key that certifies peers' keys. */
    readonly provisioning: DeviceProvisioning | undefined,
  ) {
    this.current = state;
  }

  /** The last saved state; change it only through `update`. */
  get state(): DeviceState {
    return this.current;
  }

  /** Applies a change to a copy of the state, saves it, and only then makes it the current state. */
  update(change: (state: DeviceState) => void): Promise<void> {
    const run = this.updates.then(async () => {
      const next = structuredClone(this.current);
      change(next);
      await this.store.save(next);
      this.current = next;
    });
    this.updates = run.catch(() => {});
    return run;
  }

  /** Runs mailbox work one batch at a time, so a push and a read never handle the same message twice. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.exclusiveChain.catch(() => {}).then(work);
    this.exclusiveChain = run;
    return run;
  }

  /** A request signed with the current identity key. */
  call<O extends wireV2.V2Operation>(operation: O, body: wireV2.RequestBodyInput<O>): Promise<wireV2.RequestResult<O>> {
    return this.client().call(this.requireIdentity(), operation, body);
  }

  client(): V2Client {
    return this.connect().client;
  }

  link(): V2Link {
    return this.connect().link;
  }

  requireUsername(): string {
    if (this.current.username === null) throw new DeviceError('NOT_READY', 'no username set');
    return this.current.username;
  }

  requireIdentity(): IdentityKeyPair {
    if (this.current.identity === null) throw new DeviceError('NOT_READY', 'no identity key: Register Identity first');
    return identityKeyPair(this.current.identity);
  }

  /** Waits for mailbox work and saves in flight, then releases the store and the link. */
  async close(): Promise<void> {
    this.closed = true;
    await this.exclusiveChain.catch(() => {});
    await this.updates;
    await this.store.close();
    await this.connection?.link.close();
  }

  /** The link and client of the current name; a changed name (after a reset) gets a new link. */
  private connect(): { link: V2Link; client: V2Client } {
    const name = this.requireUsername();
    if (this.connection?.name !== name) {
      void this.connection?.link.close();
      if (this.provisioning === undefined) {
        throw new DeviceError('NOT_READY', 'no deployment id provisioned: give the deployment id and operator public key the operator printed (--deployment-id, --operator-key)');
      }
      const link = this.linkFactory(name);
      this.connection = { name, link, client: new V2Client(link, name, this.provisioning.deploymentId, this.clientOptions) };
    }
    return this.connection;
  }
}

export function checkPeerName(peer: string): void {
  if (!wireV2.isDeviceName(peer)) throw new DeviceError('INVALID_INPUT', `peer name ${JSON.stringify(peer)} is not a v2 device name (1 to 64 of A-Z a-z 0-9 . _ -)`);
}
