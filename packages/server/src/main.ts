#!/usr/bin/env node
import { CommanderError } from 'commander';
import { MqttConnectError } from '@x3dh-iot/transport';
import { isAdminCommand, runAdminCli } from './admin/admin_cli.js';
import { parseServerConfig, SERVER_EXIT, type ServerConfig } from './config.js';
import { startKeyServer } from './key_server.js';
import type { Logger } from 'pino';
import { createLogger } from './ops/logger.js';
import { PlainTextRefusedError } from './plain_text_policy.js';
import { DatabaseUnavailableError } from './storage/database_errors.js';
import { isNotReachableYet } from './ops/not_reachable_yet.js';

/**
 * A start-up failure the operator can act on, as one line with what to check and the exit code;
 * the stack only at debug level (it says nothing the line does not).
 */
function startFailure(error: unknown, config: ServerConfig, log: Logger): number {
  const message = error instanceof Error ? error.message : String(error);
  log.debug({ err: error }, 'start-up failure');
  if (error instanceof DatabaseUnavailableError && !isNotReachableYet(error)) {
    // Reached, but refused: waiting does not mend a wrong login, database name or certificate.
    const reason = error.cause instanceof Error ? error.cause.message : message;
    log.fatal(`cannot start: the database refused the connection: ${reason}; check the user, password, database and TLS settings of --database-url`);
    return SERVER_EXIT.UNREACHABLE;
  }
  if (error instanceof DatabaseUnavailableError) {
    log.fatal(`cannot start: ${message}; is the database at ${config.databaseUrl === undefined ? 'the embedded store' : '--database-url'} running and reachable?`);
    return SERVER_EXIT.UNREACHABLE;
  }
  if (error instanceof MqttConnectError || isNotReachableYet(error)) {
    log.fatal(`cannot start: ${message}; is the broker at --broker-url (or --amqp-url) running and reachable?`);
    return SERVER_EXIT.UNREACHABLE;
  }
  if (error instanceof PlainTextRefusedError) {
    log.fatal(`cannot start: ${message}`);
    return SERVER_EXIT.USAGE;
  }
  log.fatal({ err: error }, `cannot start: ${message}`);
  return SERVER_EXIT.UNEXPECTED;
}

/** Serves until SIGTERM or SIGINT, then finishes the requests in flight. */
async function serve(argv: readonly string[]): Promise<void> {
  let config: ServerConfig;
  try {
    config = parseServerConfig(argv);
  } catch (error) {
    // Commander has printed the reason (or the help).
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? SERVER_EXIT.OK : SERVER_EXIT.USAGE);
    throw error;
  }
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
    process.exit(startFailure(error, config, log));
  }
}

/**
 * Command-line entry: `x3dh-server --help` lists every flag with its environment variable;
 * `x3dh-server token ...`, `x3dh-server device ...` and `x3dh-server console-token` are operator commands on the same store.
 */
const argv = process.argv.slice(2);
if (isAdminCommand(argv)) process.exitCode = await runAdminCli(argv);
else await serve(argv);
