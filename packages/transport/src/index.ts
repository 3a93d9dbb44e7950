export * from './mqtt_connection.js';
export * from './mqtt_requester.js';
