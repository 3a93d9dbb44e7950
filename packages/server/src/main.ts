#!/usr/bin/env node
import { isAdminCommand, runAdminCli } from './admin/admin_cli.js';
import { parseServerConfig } from './config.js';
import { startKeyServer } from './key_server.js';
import { createLogger } from './ops/logger.js';

/** Serves until SIGTERM or SIGINT, then finishes the requests in flight. */
async function serve(argv: readonly string[]): Promise<void> {
  const config = parseServerConfig(argv);
  const log = createLogger(config.logLevel, config.logFormat);
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
}

/**
 * Command-line entry: `x3dh-server --help` lists every flag with its environment variable;
 * `x3dh-server token ...` and `x3dh-server device ...` are operator commands on the same store.
 */
const argv = process.argv.slice(2);
if (isAdminCommand(argv)) process.exitCode = await runAdminCli(argv);
else await serve(argv);
