import { admin } from './admin_cli.js';

/**
 * The operator console's API as a script (not a browser) reaches it: for the attack tests, which
 * send what no page of the console would.
 */
export interface ConsoleLogin {
  cookie: string;
  csrfToken: string;
}

/** `x3dh-server console-token` on the store, as the operator runs it; the token it prints. */
export async function consoleToken(store: readonly string[], ...args: string[]): Promise<string> {
  return (await admin(store, 'console-token', '--operator', 'test-operator', ...args)).trim();
}

export async function consoleFetch(
  httpPort: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`http://127.0.0.1:${httpPort}${path}`, { redirect: 'manual', ...init });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, body, headers: response.headers };
}

/** Logs in with a token as the console's own page would (same origin); the session cookie and CSRF token. */
export async function consoleLogin(httpPort: number, token: string): Promise<ConsoleLogin> {
  const { status, body, headers } = await consoleFetch(httpPort, '/console/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: `http://127.0.0.1:${httpPort}`, 'sec-fetch-site': 'same-origin' },
    body: JSON.stringify({ token }),
  });
  if (status !== 200) throw new Error(`console login: ${status} ${JSON.stringify(body)}`);
  const cookie = /^(x3dh_console_session=[^;]+)/.exec(headers.get('set-cookie') ?? '')?.[1];
  if (cookie === undefined) throw new Error('console login set no session cookie');
  return { cookie, csrfToken: String(body.csrfToken) };
}
