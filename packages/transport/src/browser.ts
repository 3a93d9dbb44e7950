// The package as browsers get it (the `browser` export condition): no Node built-ins.
export { connectMqtt } from './browser_connection.js';
export { MqttConnectError, type MqttClientSettings } from './mqtt_client_settings.js';
export * from './mqtt_requester.js';
export { isWebSocketUrl } from './websocket_url.js';
