import { BrokerV2Link, type V2LinkFactory } from '@x3dh-iot/device/browser';
import { connectMqtt } from '@x3dh-iot/transport';

/**
 * The device's link through MQTT over WebSocket. The browser does the TLS: it checks the broker's
 * certificate against its own CAs and presents the client certificate installed for this device.
 */
export function webSocketLinks(brokerUrl: string, timeoutMs: number): V2LinkFactory {
  return (device) => new BrokerV2Link((clientId) => connectMqtt({ url: brokerUrl, clientId, connectTimeoutMs: timeoutMs }), timeoutMs, device);
}
