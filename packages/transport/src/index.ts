export * from './mqtt_connection.js';
export * from './mqtt_requester.js';
export { isWebSocketUrl } from './websocket_url.js';
