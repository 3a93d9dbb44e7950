import type { ConnectionSettings } from '../connection_settings.js';
import { FileKeyStore, type FileKeyStoreOptions } from '../file_key_store.js';
import { MqttV2Link } from './mqtt_v2_link.js';
import { provisioningOf } from './provisioning.js';
import { SecureDevice, type SecureDeviceOptions } from './secure_device.js';

export interface OpenSecureDeviceOptions extends FileKeyStoreOptions, Omit<SecureDeviceOptions, 'onClose'> {
  storePath: string;
  settings: ConnectionSettings;
}

/**
 * A v2 device on a file key store, connecting to the broker (with the settings' TLS files) on its
 * first request, provisioned as the settings say unless `provisioning` is given. Closing the device releases the store and ends the connection. The links it
 * opened are passed to `onLink`, for their `connection` events.
 */
export async function openSecureDevice(
  options: OpenSecureDeviceOptions, onLink?: (link: MqttV2Link) => void,
): Promise<SecureDevice> {
  const store = await FileKeyStore.open(options.storePath, options);
  try {
    return await SecureDevice.open(store, (name) => {
      const link = new MqttV2Link(options.settings, name);
      onLink?.(link);
      return link;
    }, {
      provisioning: provisioningOf(options.settings), ...options, client: { timeoutMs: options.settings.timeoutMs, ...options.client },
    });
  } catch (error) {
    await store.close();
    throw error;
  }
}
