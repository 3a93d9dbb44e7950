import { html } from 'htm/preact';
import type { AuditEntry } from '../types.js';

export function AuditTable({ entries }: { entries: readonly AuditEntry[] }) {
  return html`
    <table class="audit">
      <thead><tr><th>When</th><th>Who</th><th>What</th><th>On</th><th>Details</th></tr></thead>
      <tbody>
        ${entries.map((e) => html`
          <tr key=${e.id}><td>${e.at}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.target ?? '–'}</td><td><code>${e.detail ?? ''}</code></td></tr>`)}
      </tbody>
    </table>`;
}
