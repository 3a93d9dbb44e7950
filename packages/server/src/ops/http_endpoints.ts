import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Pages served beside the endpoints under a path of their own (`/console`, `/device`). */
export interface HttpRoute {
  /** `/name`: the route gets that path and everything below it. */
  readonly prefix: string;
  handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void>;
}

export interface HttpEndpoints {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/healthz` (liveness: fails once the broker or database connection has stayed down too long to be
 * a cut its driver will mend, so that the process is restarted), `/readyz` (connected to broker and
 * database: send it requests) and `/metrics` (Prometheus text format).
 *
 * `notReady` says why the server should get no requests now, or null when it should; `notLive`
 * why it should be restarted, or null.
 */
export async function startHttpEndpoints(
  host: string, port: number, registry: Registry, notReady: () => Promise<string | null>,
  notLive: () => string | null = () => null, routes: readonly HttpRoute[] = [],
): Promise<HttpEndpoints> {
  const server = http.createServer((request, response) => {
    const answer = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(status, { 'content-type': type }).end(body);
    };
    const route = async () => {
      const path = (request.url ?? '').split('?')[0]!;
      const page = routes.find(({ prefix }) => path === prefix || path.startsWith(`${prefix}/`));
      if (page !== undefined) return page.handle(request, response);
      switch (request.url) {
        case '/healthz': {
          const reason = notLive();
          return reason === null ? answer(200, 'ok\n') : answer(503, `not live: ${reason}\n`);
        }
        case '/readyz': {
          const reason = await notReady();
          return reason === null ? answer(200, 'ready\n') : answer(503, `not ready: ${reason}\n`);
        }
        case '/metrics': return answer(200, await registry.metrics(), registry.contentType);
        default: return answer(404, 'not found\n');
      }
    };
    route().catch((error: Error) => {
      if (!response.headersSent) answer(500, `${error.message}\n`);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
