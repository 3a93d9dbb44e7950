/**
 * Calls of the console's JSON API (/console/api/...). Every POST carries the session's CSRF token,
 * which the server hands out at login and with /session; the session cookie itself is HttpOnly.
 */

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken = '';

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called when an answer says the session is over, so the page can show the login again. */
let onLoggedOut: () => void = () => {};
export function whenLoggedOut(callback: () => void): void {
  onLoggedOut = callback;
}

async function call<T>(path: string, init: RequestInit): Promise<T> {
  const response = await fetch(`/console/api${path}`, { credentials: 'same-origin', ...init });
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` })) as T & { error?: string };
  if (!response.ok) {
    if (response.status === 401 && path !== '/login' && path !== '/session') onLoggedOut();
    throw new ApiError(response.status, body.error ?? `${response.status}`);
  }
  return body;
}

export function get<T>(path: string): Promise<T> {
  return call<T>(path, { method: 'GET' });
}

export function post<T>(path: string, body: unknown = {}): Promise<T> {
  return call<T>(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
    body: JSON.stringify(body),
  });
}
