import type http from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { wireV2 } from '@x3dh-iot/protocol';
import { OperatorError } from '../admin/operator_error.js';
import { runOperatorOperation, TOKEN_ID_PATTERN, type AlertLimits, type OperatorInput, type OperatorOperation } from '../admin/operator_operations.js';
import { enrolmentTokenDigest, newEnrolmentToken } from '../domain/enrolment_token.js';
import type { HttpRoute } from '../ops/http_endpoints.js';
import type { Database } from '../storage/database.js';
import { listLiveReplicas } from '../storage/queries/replica_queries.js';
import { loadConsoleAssets, type ConsoleAssets } from './console_assets.js';
import {
  hasCsrfToken, logIn, logOut, sessionCookie, sessionOf, SESSION_LIFETIME_SECONDS, type ConsoleSession,
} from './console_session.js';
import { readLiveFigures } from './live_figures.js';
import { REPLICA_SILENCE_SECONDS } from './replica_presence.js';
import { isConsoleHost, sameOriginProblem } from './request_origin.js';

/** What the live view shows of the broker and database connections. */
export interface ConsoleHealth {
  broker: boolean;
  database: boolean;
  /** Why /readyz would answer 503, or null. */
  notReady: string | null;
}

export interface ConsoleOptions {
  database: Database;
  registry: Registry;
  health: () => Promise<ConsoleHealth>;
  alerts: AlertLimits;
  /** Reached over HTTPS (a TLS proxy in front): the cookie is Secure and the expected origin https. */
  https: boolean;
  /** Host names the console answers under besides loopback ones. */
  hosts: readonly string[];
  log: Logger;
}

/** Only the console's own files, scripts and styles run; nothing may frame it. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const MAX_BODY_BYTES = 16 * 1024;
const PAGE_SIZE = 50;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A name from the path, %-decoded; a malformed escape is the caller's error. */
function pathName(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, 'malformed name in the path');
  }
}

const bodies = {
  login: z.strictObject({ token: z.string().min(1).max(200) }),
  issueToken: z.strictObject({
    device: wireV2.deviceNameSchema.nullable(),
    note: z.string().max(1000).nullable(),
    expiresInSeconds: z.number().int().positive().max(365 * 86_400).nullable(),
  }),
  empty: z.strictObject({}),
};

async function readJson<T>(request: http.IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  if (!(request.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'expected application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return parsed.data;
}

/** `/console`: the operator console's pages and the JSON API they call. */
export function consoleRoute(options: ConsoleOptions): HttpRoute {
  const assets: ConsoleAssets | null = loadConsoleAssets(options.log);
  const { database } = options;

  const send = (response: http.ServerResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}) => {
    response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', ...extra }).end(body);
  };
  const json = (response: http.ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}) =>
    send(response, status, JSON.stringify(value), 'application/json; charset=utf-8', extra);

  const operate = <O extends OperatorOperation>(session: ConsoleSession, operation: O, input: OperatorInput<O>) =>
    database.transaction((sql) => runOperatorOperation(sql, operation, input, `console:${session.operator}`));

  /** The API calls of a logged-in operator; POSTs have passed the origin and CSRF checks. */
  const api = async (request: http.IncomingMessage, url: URL, session: ConsoleSession): Promise<unknown> => {
    const path = url.pathname.slice('/console/api'.length);
    const post = request.method === 'POST';
    let match: RegExpExecArray | null;
    if (!post && path === '/session') return { operator: session.operator, csrfToken: session.csrfToken };
    if (post && path === '/logout') {
      await readJson(request, bodies.empty);
      await logOut(database, session);
      return { loggedOut: true };
    }
    if (!post && path === '/devices') {
      const after = url.searchParams.get('after');
      return operate(session, 'device.page', {
        after: after === '' ? null : after, search: url.searchParams.get('search') ?? '', limit: PAGE_SIZE, alerts: options.alerts,
      });
    }
    if (!post && (match = /^\/devices\/([^/]+)$/.exec(path))) {
      return operate(session, 'device.show', { device: pathName(match[1]!), alerts: options.alerts });
    }
    if (post && (match = /^\/devices\/([^/]+)\/(disable|enable|delete)$/.exec(path))) {
      await readJson(request, bodies.empty);
      const operation = `device.${match[2] as 'disable' | 'enable' | 'delete'}` as const;
      return operate(session, operation, { device: pathName(match[1]!) });
    }
    if (!post && path === '/tokens') return operate(session, 'token.list', {});
    if (post && path === '/tokens') {
      const body = await readJson(request, bodies.issueToken);
      // Made here, shown once in the answer: only its digest is stored, as with `token issue`.
      const token = newEnrolmentToken();
      const row = await operate(session, 'token.issue', { ...body, digest: enrolmentTokenDigest(token).toString('base64url') });
      return { token, ...row };
    }
    if (post && (match = /^\/tokens\/([^/]+)\/revoke$/.exec(path))) {
      await readJson(request, bodies.empty);
      if (!TOKEN_ID_PATTERN.test(match[1]!)) throw new HttpError(400, 'a token id is a positive integer');
      return operate(session, 'token.revoke', { id: match[1]! });
    }
    if (!post && path === '/audit') {
      const before = url.searchParams.get('before');
      if (before !== null && !TOKEN_ID_PATTERN.test(before)) throw new HttpError(400, 'before: an audit entry id');
      return operate(session, 'audit.list', { before, limit: PAGE_SIZE });
    }
    if (!post && path === '/live') {
      const [figures, health, replicas] = await Promise.all([
        readLiveFigures(options.registry), options.health(),
        database.transaction((sql) => listLiveReplicas(sql, REPLICA_SILENCE_SECONDS)).catch(() => null),
      ]);
      return { ...figures, health, replicas: replicas?.map((r) => ({ id: r.client_id, started: r.started_at.toISOString() })) ?? null };
    }
    throw new HttpError(404, 'no such console call');
  };

  const handleApi = async (request: http.IncomingMessage, response: http.ServerResponse, url: URL) => {
    const post = request.method === 'POST';
    if (!post && request.method !== 'GET') throw new HttpError(405, 'GET or POST only');
    if (post) {
      const problem = sameOriginProblem(request, options.https);
      if (problem !== null) throw new HttpError(403, problem);
    }
    if (post && url.pathname === '/console/api/login') {
      const { token } = await readJson(request, bodies.login);
      const opened = await logIn(database, token, request.socket.remoteAddress ?? '?');
      if (opened === null) throw new HttpError(401, 'unknown, used or expired login token (x3dh-server console-token prints a new one)');
      return json(response, 200, { operator: opened.session.operator, csrfToken: opened.session.csrfToken },
        { 'set-cookie': sessionCookie(opened.secret, options.https, SESSION_LIFETIME_SECONDS) });
    }
    const session = await sessionOf(database, request);
    if (session === null) throw new HttpError(401, 'not logged in');
    if (post && !hasCsrfToken(request, session)) throw new HttpError(403, 'missing or wrong CSRF token');
    const result = await api(request, url, session);
    const extra: Record<string, string> = url.pathname === '/console/api/logout' ? { 'set-cookie': sessionCookie('', options.https, 0) } : {};
    return json(response, 200, result, extra);
  };

  return {
    prefix: '/console',
    handle: async (request, response) => {
      if (!isConsoleHost(request, options.hosts)) {
        return send(response, 421, 'the console answers only under its own host names (--console-hosts)\n', 'text/plain; charset=utf-8');
      }
      const url = new URL(request.url ?? '/', 'http://console.invalid');
      try {
        if (url.pathname.startsWith('/console/api/')) return await handleApi(request, response, url);
        if (request.method !== 'GET' && request.method !== 'HEAD') throw new HttpError(405, 'GET only');
        if (url.pathname === '/console') return send(response, 308, '', 'text/plain', { location: '/console/' });
        if (assets === null) throw new HttpError(503, 'the console is not built: run npm run build');
        const file = assets.get(url.pathname === '/console/' ? 'index.html' : url.pathname.slice('/console/'.length));
        if (file === undefined) throw new HttpError(404, 'not found');
        return send(response, 200, file.body, file.type, { 'cache-control': 'no-cache' });
      } catch (error) {
        if (error instanceof HttpError) return json(response, error.status, { error: error.message });
        if (error instanceof OperatorError) return json(response, 400, { error: error.message });
        options.log.error({ err: error, path: url.pathname }, 'console request failed');
        return json(response, 500, { error: 'the server failed; see its log' });
      }
    },
  };
}
