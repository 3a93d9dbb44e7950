export { parseServerConfig, type ServerConfig } from './config.js';
export { startKeyServer, type KeyServer } from './key_server.js';
export { createLogger } from './ops/logger.js';
export { DataDirLockedError } from './storage/data_dir_lock.js';
