import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Database } from '../storage/database.js';
import { commandLineActor, MAX_ACTOR_LENGTH } from './operator_actor.js';
import { OperatorError } from './operator_error.js';
import { isOperatorOperation, runOperatorOperation, type OperatorOperation } from './operator_operations.js';

/**
 * The embedded store belongs to the one process that holds its data directory, so while a key
 * server runs on it, operator commands reach the store through that server: a Unix socket in the
 * data directory, readable and writable by its owner only (whoever may use the socket may read the
 * store's files anyway). One request per connection, one JSON line each way:
 *   {"operation": "token.issue", "input": {...}, "actor": "cli:user@host"}  ->  {"result": ...} or {"error": "...", "operator": true}
 */

const SOCKET_NAME = 'x3dh-server.sock';
/** Far more than any operator request (a token digest, a key). */
const MAX_REQUEST_BYTES = 64 * 1024;
/** A connection that sends no request within this time is dropped. */
const IDLE_TIMEOUT_MS = 30_000;

/**
 * Longest Unix socket path the system takes (its sun_path less the final NUL). Node cuts a longer
 * path short without a word, which would put the socket somewhere outside the data directory.
 */
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

export const operatorSocketPath = (dataDir: string): string => path.join(dataDir, SOCKET_NAME);

/** Why the socket cannot live at this path, or null. */
function socketPathProblem(socketPath: string): string | null {
  const bytes = Buffer.byteLength(socketPath);
  return bytes <= MAX_SOCKET_PATH_BYTES ? null
    : `${socketPath} is ${bytes} bytes, more than the ${MAX_SOCKET_PATH_BYTES} a Unix socket path may have (use a shorter --data-dir path)`;
}

export interface OperatorSocket {
  close(): Promise<void>;
}

/**
 * Serves operator requests on the data directory's socket. The caller holds the data directory's
 * lock, so a socket file already there was left by a server that died: it is replaced.
 */
export async function serveOperatorSocket(dataDir: string, database: Database, log: Logger): Promise<OperatorSocket> {
  const socketPath = operatorSocketPath(dataDir);
  const problem = socketPathProblem(socketPath);
  if (problem !== null) throw new Error(problem);
  fs.rmSync(socketPath, { force: true });
  const connections = new Set<net.Socket>();
  const answering = new Set<Promise<void>>();
  const server = net.createServer((connection) => {
    let received = '';
    let answered = false;
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    connection.setEncoding('utf8');
    connection.setTimeout(IDLE_TIMEOUT_MS, () => connection.destroy());
    connection.on('error', () => {});
    // Whatever follows the request line is read and dropped, so the connection closes cleanly.
    connection.on('data', (chunk: string) => {
      if (answered) return;
      received += chunk;
      const end = received.indexOf('\n');
      if (end < 0 && received.length <= MAX_REQUEST_BYTES) return;
      answered = true;
      const reply = end < 0 || end > MAX_REQUEST_BYTES
        ? Promise.resolve({ error: 'operator request too large' }) : answer(received.slice(0, end));
      const sent = reply.then((body) => { connection.end(`${JSON.stringify(body)}\n`); });
      answering.add(sent);
      void sent.finally(() => answering.delete(sent));
    });
  });
  const answer = async (line: string): Promise<Record<string, unknown>> => {
    let request: { operation?: unknown; input?: unknown; actor?: unknown };
    try {
      request = JSON.parse(line) as typeof request;
    } catch {
      return { error: 'operator request is not JSON' };
    }
    const { operation, input, actor } = request ?? {};
    // Only the store's owner can reach the socket; the actor is theirs to name, for the audit log.
    const named = typeof actor === 'string' && actor.length > 0 && actor.length <= MAX_ACTOR_LENGTH ? actor : 'cli:unnamed';
    if (!isOperatorOperation(operation)) return { error: `unknown operator operation ${JSON.stringify(operation)}` };
    try {
      const result = await database.transaction((sql) => runOperatorOperation(sql, operation, input ?? {}, named));
      log.info({ operation }, 'operator command');
      return { result };
    } catch (error) {
      if (error instanceof OperatorError) return { error: error.message, operator: true };
      log.error({ err: error, operation }, 'operator command failed');
      return { error: `operator command failed: ${(error as Error).message}` };
    }
  };
  // Owner only from the moment it exists.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  return {
    // Commands being run finish (their transactions belong to the store, which closes next); idle
    // connections do not hold up the shutdown.
    close: async () => {
      server.close();
      fs.rmSync(socketPath, { force: true });
      await Promise.allSettled([...answering]);
      for (const connection of connections) connection.destroy();
    },
  };
}

/** No key server answers on the data directory's socket (none runs, one too old to have it, or the path is too long for one). */
export class OperatorSocketUnavailableError extends Error {
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(`no key server answers: ${reason}`, options);
    this.name = 'OperatorSocketUnavailableError';
  }
}

/** Has the key server holding `dataDir` run one operation; its result, or its refusal as an OperatorError. */
export function callOperatorSocket(dataDir: string, operation: OperatorOperation, input: unknown, timeoutMs = 30_000): Promise<unknown> {
  const socketPath = operatorSocketPath(dataDir);
  const problem = socketPathProblem(socketPath);
  if (problem !== null) return Promise.reject(new OperatorSocketUnavailableError(problem));
  return new Promise((resolve, reject) => {
    const connection = net.connect(socketPath);
    let received = '';
    let connected = false;
    connection.setEncoding('utf8');
    connection.setTimeout(timeoutMs, () => connection.destroy(new Error(`the key server did not answer within ${timeoutMs / 1000} s`)));
    connection.on('connect', () => {
      connected = true;
      connection.write(`${JSON.stringify({ operation, input, actor: commandLineActor() })}\n`);
    });
    connection.on('data', (chunk: string) => { received += chunk; });
    connection.on('error', (error) => reject(connected ? error
      : new OperatorSocketUnavailableError(`nothing answers on ${socketPath}`, { cause: error })));
    connection.on('end', () => {
      let reply: { result?: unknown; error?: string; operator?: boolean };
      try {
        reply = JSON.parse(received) as typeof reply;
      } catch {
        reject(new Error(`the key server answered ${JSON.stringify(received.slice(0, 200))}`));
        return;
      }
      if (reply.error !== undefined) reject(reply.operator ? new OperatorError(reply.error) : new Error(reply.error));
      else resolve(reply.result);
    });
  });
}
