export * from './directory.js';
export * from './mailbox.js';
