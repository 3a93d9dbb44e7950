import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import type { DeviceDetail } from '../types.js';
import { AuditTable } from './audit_table.js';
import { ConfirmButton } from './confirm_button.js';
import { ago, alertBadges, stateBadge } from './format.js';

/** One device: its identity, stock and state, what operators did to it, and the operator's actions on it. */
export function DevicePage({ name }: { name: string }) {
  const [device, setDevice] = useState<DeviceDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const path = `/devices/${encodeURIComponent(name)}`;
  const load = () => get<DeviceDetail>(path).then((d) => {
    setDevice(d);
    setError(null);
  }, (e: Error) => setError(e.message));
  useEffect(() => {
    void load();
  }, [name]);

  const act = (action: 'disable' | 'enable' | 'delete') => {
    setNotice(null);
    post<{ state: string; was: string }>(`${path}/${action}`).then((r) => {
      setNotice(`${name}: ${r.was} → ${r.state}`);
      void load();
    }, (e: Error) => setError(e.message));
  };

  if (device === null) return html`<h1>${name}</h1>${error ? html`<p class="error" role="alert">${error}</p>` : html`<p class="loading">Loading…</p>`}`;
  return html`
    <p><a href="#/">← Fleet</a></p>
    <h1>${device.device} ${stateBadge(device.state)}</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    <dl class="facts">
      <dt>Protocol</dt><dd>${device.protocol}</dd>
      <dt>Identity fingerprint (SHA-256)</dt><dd><code class="fingerprint">${device.identity_fingerprint}</code></dd>
      <dt>Identity key</dt><dd><code>${device.identity_key}</code></dd>
      <dt>Certificate epoch</dt><dd>${device.certificate_epoch === null ? 'no certificate issued yet' : device.certificate_epoch}</dd>
      <dt>Enrolled</dt><dd>${device.enrolled}</dd>
      <dt>Last seen</dt><dd>${ago(device.last_seen)}${device.last_seen ? ` (${device.last_seen})` : ''}</dd>
      <dt>Signed prekey</dt><dd>${device.signed_prekey_id === null ? 'none'
        : `id ${device.signed_prekey_id}${device.signed_prekey_age_days === null ? '' : `, ${device.signed_prekey_age_days} days old`}`}</dd>
      <dt>One-time prekeys</dt><dd>${device.one_time_prekeys}</dd>
      <dt>Mailbox</dt><dd>${device.mailbox_messages} messages waiting</dd>
      <dt>Alerts</dt><dd>${device.alerts.length === 0 ? 'none' : alertBadges(device.alerts)}</dd>
    </dl>
    <div class="actions">
      ${device.state === 'disabled'
        ? html`<${ConfirmButton} label="Enable" question=${`Let ${device.device} make requests again?`} onConfirm=${() => act('enable')} />`
        : device.state !== 'operator-deleted' && html`<${ConfirmButton} label="Disable" danger
            question=${`Refuse every request of ${device.device} until it is enabled again?`} onConfirm=${() => act('disable')} />`}
      ${device.state !== 'operator-deleted' && html`<${ConfirmButton} label="Delete" danger
        question=${`Delete the keys and mailbox of ${device.device}? It comes back only with a new enrolment token.`}
        onConfirm=${() => act('delete')} />`}
    </div>
    <h2>Operator actions on this device</h2>
    <p class="hint">The server keeps no history of a device's earlier keys; replaced identity keys show here as device.set-identity.</p>
    ${device.history.length === 0 ? html`<p class="empty">None recorded.</p>` : html`<${AuditTable} entries=${device.history} />`}`;
}
