import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { post } from '../api.js';

/** Login with a token from `x3dh-server console-token`. */
export function LoginPage({ onLogin }: { onLogin: (session: { operator: string; csrfToken: string }) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    setError(null);
    post<{ operator: string; csrfToken: string }>('/login', { token: token.trim() }).then(onLogin, (e: Error) => setError(e.message));
  };
  return html`
    <main class="login">
      <h1>x3dh-iot operator console</h1>
      <form onSubmit=${submit}>
        <label for="token">Login token</label>
        <input id="token" name="token" type="password" autocomplete="off" value=${token}
          onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} />
        <button type="submit">Log in</button>
      </form>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <p class="hint">Print a token on the server's host with <code>x3dh-server console-token</code>; it works once.</p>
    </main>`;
}
