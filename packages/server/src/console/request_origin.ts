import type http from 'node:http';

/**
 * Where a console request comes from. A state-changing request is taken only from the console's
 * own pages: the browser's Sec-Fetch-Site says same-origin, or (older browsers) its Origin is the
 * console's own. And the console answers only under host names it knows, so that a page of another
 * site whose name is made to resolve to this address (DNS rebinding) is not the console's origin.
 */

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The Host header's name without the port, lower case; null when absent or malformed. */
function hostName(request: http.IncomingMessage): string | null {
  const host = request.headers.host;
  if (host === undefined) return null;
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.exec(host);
  return match === null ? null : match[1]!.toLowerCase();
}

/** The console answers under loopback names and those the operator configured (--console-hosts). */
export function isConsoleHost(request: http.IncomingMessage, extraHosts: readonly string[]): boolean {
  const name = hostName(request);
  return name !== null && (LOOPBACK_NAMES.has(name) || extraHosts.includes(name));
}

/** Whether the request comes from the console's own origin (see above); why not otherwise. */
export function sameOriginProblem(request: http.IncomingMessage, https: boolean): string | null {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return `cross-site request (Sec-Fetch-Site: ${String(site)})`;
  const origin = request.headers.origin;
  if (origin === undefined) return site === 'same-origin' ? null : 'request without Origin';
  const expected = `${https ? 'https' : 'http'}://${request.headers.host ?? ''}`;
  return origin.toLowerCase() === expected.toLowerCase() ? null : `request from another origin (${origin})`;
}
