export * from './topics.js';
export * from './schemas.js';
export * from './request_signature.js';
export * from './identity_rotation.js';
export * from './envelopes.js';
export * from './safety_number.js';
export * from './ratchet_envelopes.js';
export * from './ratchet_handshake.js';
