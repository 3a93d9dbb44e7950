export * from './topics.js';
export * from './request_signature.js';
export * from './safety_number.js';
