import { settingsOpener } from '../broker_connection.js';
import type { ConnectionSettings } from '../connection_settings.js';
import { BrokerV2Link } from './broker_v2_link.js';

/** A v2 device's link through the broker of the connection settings, with their TLS files. */
export class MqttV2Link extends BrokerV2Link {
  constructor(readonly settings: ConnectionSettings, device: string) {
    super(settingsOpener(settings), settings.timeoutMs, device);
  }
}
