#!/usr/bin/env node
import { parseServerConfig } from './config.js';
import { startKeyServer } from './key_server.js';
import { createLogger } from './ops/logger.js';

/** Command-line entry: `x3dh-server --help` lists every flag with its environment variable. */
const config = parseServerConfig(process.argv.slice(2));
const log = createLogger(config.logLevel);

try {
  const server = await startKeyServer(config, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing requests in flight');
    server.close().then(() => {
      log.info('stopped');
      process.exit(0);
    }, (error: Error) => {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (error) {
  log.fatal({ err: error }, (error as Error).message);
  process.exit(1);
}
