export * from './topics.js';
export * from './schemas.js';
export * from './payloads.js';
export * from './nvs_keys.js';
