import assert from 'node:assert/strict';
import { DeviceError, MemoryKeyStore, SecureDevice, type DeviceState, type KeyStore, type SecureDeviceOptions } from '../../src/index.js';
import type { FakeV2Server } from './fake_v2_server.js';

/** Short backoff; the fake answers at once, and a lost response fails at once as a timeout. */
export const FAST = { timeoutMs: 10_000, retryBackoffMs: 1 };

export async function openV2(server: FakeV2Server, name: string | null, store: KeyStore = new MemoryKeyStore(), options: SecureDeviceOptions = {}) {
  const device = await SecureDevice.open(store, (n) => server.link(n), { client: FAST, provisioning: server.provisioning, ...options });
  if (name !== null) await device.setUsername(name);
  return device;
}

export async function enrolled(server: FakeV2Server, name: string, store: KeyStore = new MemoryKeyStore(), options: SecureDeviceOptions = {}) {
  const device = await openV2(server, name, store, options);
  await device.registerIdentity();
  await device.publishBundle();
  return device;
}

export async function rejects(promise: Promise<unknown>, kind: DeviceError['kind'], pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DeviceError, String(error));
    assert.equal(error.kind, kind, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

/**
 * A key store's state without the record of refused messages (and of the mailbox ids handled with
 * them): what a test compares to prove that a refused message changed nothing else.
 */
export async function keysAndSessions(store: KeyStore): Promise<DeviceState> {
  const state = await store.load();
  return { ...state, v2: { ...state.v2, refused: [], handledMailboxIds: [] } };
}

/** The reasons recorded for the refused messages a key store holds, oldest first. */
export async function refusalReasons(store: KeyStore): Promise<string[]> {
  return (await store.load()).v2.refused.map((refusal) => refusal.reason);
}
