import { BrokerConnection } from './broker_connection.js';
import type { ConnectionSettings } from './connection_settings.js';
import { Device, type DeviceOptions } from './device.js';
import { FileKeyStore, type FileKeyStoreOptions } from './file_key_store.js';
import { V1Client } from './v1_client.js';

export interface OpenDeviceOptions extends FileKeyStoreOptions, Omit<DeviceOptions, 'onClose'> {
  storePath: string;
  settings: ConnectionSettings;
  /** Extra attempts of idempotent requests after a timeout. */
  retries?: number;
}

/**
 * A v1 device on a file key store, connecting to the broker on its first request. Closing the
 * device releases the store and ends the connection. The connection is returned too, for its
 * `connection` events.
 */
export async function openDevice(options: OpenDeviceOptions): Promise<{ device: Device; connection: BrokerConnection }> {
  const store = await FileKeyStore.open(options.storePath, options);
  const connection = new BrokerConnection(options.settings);
  try {
    const device = await Device.open(store, new V1Client(connection, { retries: options.retries }), {
      ...options, onClose: () => connection.close(),
    });
    return { device, connection };
  } catch (error) {
    await store.close();
    throw error;
  }
}
