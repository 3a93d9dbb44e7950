import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRoute } from './http_endpoints.js';

/** The page built by @x3dh-iot/web-device (its `build` script, run by `npm ci`). */
export const DEVICE_PAGE_DIR = join(dirname(fileURLToPath(import.meta.resolve('@x3dh-iot/web-device/package.json'))), 'dist', 'page');

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'device.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
  'device.js': 'text/javascript; charset=utf-8',
  'device.js.map': 'application/json',
  'device.js.LEGAL.txt': 'text/plain; charset=utf-8',
};

/** Scripts and styles from this origin only (no inline code); connections to this origin and WebSocket brokers. */
function securityHeaders(brokerUrl: string | undefined): Record<string, string> {
  // A plain ws:// broker (the embedded one on loopback) must be named; any wss:// broker is allowed.
  const plain = brokerUrl?.startsWith('ws://') ? ` ${new URL(brokerUrl).origin}` : '';
  return {
    'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
      `connect-src 'self' wss:${plain}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  };
}

/** What the page is provisioned with (docs/protocol-v2.md section 6.11), beside the page's own code and so trusted as much. */
export interface DevicePageProvisioning {
  deploymentId: string;
  /** The operator public key, base64url. */
  operatorPublicKey: string;
}

/**
 * The browser device under /device: the static files of the built page, and /device/settings.json
 * with the broker URL the page proposes for enrolment and the deployment's provisioning. The URL is
 * asked for on each request: the HTTP endpoints open while the server still waits for its broker.
 */
export function devicePageRoute(options: {
  dir?: string; brokerUrl: () => string | undefined; provisioning: DevicePageProvisioning;
}): HttpRoute {
  const dir = options.dir ?? DEVICE_PAGE_DIR;
  return { prefix: '/device', handle: async (request, response) => {
    const brokerUrl = options.brokerUrl();
    const headers = securityHeaders(brokerUrl);
    const path = new URL(request.url ?? '/', 'http://page').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    if (path === '/device') {
      response.writeHead(308, { location: '/device/' }).end();
      return;
    }
    const name = path.slice('/device/'.length) || 'index.html';
    if (name === 'settings.json') {
      response.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify({ brokerUrl: brokerUrl ?? null, ...options.provisioning }));
      return;
    }
    const type = FILES[name];
    if (type === undefined || !existsSync(join(dir, name))) {
      const missing = !existsSync(join(dir, 'index.html'));
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end(missing ? 'the device page is not built: run "npm run build -w @x3dh-iot/web-device"\n' : 'not found\n');
      return;
    }
    const body = await readFile(join(dir, name));
    response.writeHead(200, { ...headers, 'content-type': type, 'content-length': body.length }).end(request.method === 'HEAD' ? undefined : body);
  } };
}
