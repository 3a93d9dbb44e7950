// The v2 device library as browsers get it (`@x3dh-iot/device/browser`): no Node built-ins, no
// files. The page supplies the key store and the broker connection.
export * from './errors.js';
export * from './device_state.js';
export type { KeyStore } from './key_store.js';
export { MemoryKeyStore } from './memory_key_store.js';
export { stateFromJson, stateToJson, type StateJson } from './state_codec.js';
export type { BrokerClientOpener, MqttClient } from './lazy_broker_connection.js';
export { BrokerV2Link } from './v2/broker_v2_link.js';
export type { V2Link, V2LinkFactory, V2LinkListener, V2WireRequest } from './v2/v2_link.js';
export * from './v2/secure_device.js';
