import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import QRCode from 'qrcode';
import { get, post } from '../api.js';
import type { EnrolmentToken } from '../types.js';
import { ConfirmButton } from './confirm_button.js';

const LIFETIMES: [string, number | null][] = [['1 hour', 3600], ['1 day', 86_400], ['7 days', 7 * 86_400], ['30 days', 30 * 86_400], ['no expiry', null]];

/** The token just issued, shown this once, as text and as a QR code for a device's setup tool. */
function IssuedToken({ token, id }: { token: string; id: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (canvas.current) void QRCode.toCanvas(canvas.current, token, { errorCorrectionLevel: 'M', margin: 2, scale: 5 });
  }, [token]);
  return html`
    <section class="issued" aria-label="Issued token">
      <h2>Token ${id}: shown only now</h2>
      <canvas ref=${canvas} class="qr" aria-label="QR code of the token"></canvas>
      <p><code class="token">${token}</code></p>
      <p class="hint">Give it to the device (x3dh-device enroll --token=…) or scan the code; the server keeps only its digest.</p>
    </section>`;
}

export function TokensPage() {
  const [tokens, setTokens] = useState<EnrolmentToken[] | null>(null);
  const [issued, setIssued] = useState<{ token: string; id: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [device, setDevice] = useState('');
  const [note, setNote] = useState('');
  const [lifetime, setLifetime] = useState(1);
  const load = () => get<EnrolmentToken[]>('/tokens').then(setTokens, (e: Error) => setError(e.message));
  useEffect(() => {
    void load();
  }, []);

  const issue = (event: Event) => {
    event.preventDefault();
    setError(null);
    post<EnrolmentToken & { token: string }>('/tokens', {
      device: device.trim() || null, note: note.trim() || null, expiresInSeconds: LIFETIMES[lifetime]![1],
    }).then((t) => {
      setIssued({ token: t.token, id: t.id });
      void load();
    }, (e: Error) => setError(e.message));
  };
  const revoke = (id: string) => post(`/tokens/${id}/revoke`).then(load, (e: Error) => setError(e.message));
  const value = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);

  return html`
    <h1>Enrolment tokens</h1>
    <form class="issue" onSubmit=${issue}>
      <label>Device name (optional) <input name="device" value=${device} onInput=${value(setDevice)} placeholder="any name" /></label>
      <label>Note <input name="note" value=${note} onInput=${value(setNote)} /></label>
      <label>Expires after
        <select name="lifetime" value=${lifetime} onChange=${(e: Event) => setLifetime(Number((e.target as HTMLSelectElement).value))}>
          ${LIFETIMES.map(([label], index) => html`<option value=${index}>${label}</option>`)}
        </select>
      </label>
      <button type="submit">Issue token</button>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${issued && html`<${IssuedToken} token=${issued.token} id=${issued.id} />`}
    ${tokens && html`
      <table class="tokens">
        <thead><tr><th>Id</th><th>State</th><th>Device</th><th>Created</th><th>Expires</th><th>Used by</th><th>Note</th><th></th></tr></thead>
        <tbody>
          ${[...tokens].reverse().map((t) => html`
            <tr key=${t.id}>
              <td>${t.id}</td><td><span class=${`badge token-${t.state}`}>${t.state}</span></td><td>${t.device ?? 'any'}</td>
              <td>${t.created}</td><td>${t.expires ?? 'never'}</td><td>${t.used_by ?? ''}</td><td>${t.note ?? ''}</td>
              <td>${t.state === 'issued' && html`<${ConfirmButton} label="Revoke" danger question=${`Revoke token ${t.id}?`}
                onConfirm=${() => revoke(t.id)} />`}</td>
            </tr>`)}
        </tbody>
      </table>`}`;
}
