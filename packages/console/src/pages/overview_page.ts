import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import type { FleetDevice } from '../types.js';
import { ago, alertBadges, stateBadge } from './format.js';

interface Page {
  devices: FleetDevice[];
  next: string | null;
}

/**
 * The fleet: devices in name order, a page at a time (the server pages by the last name shown),
 * searched by name prefix on the server.
 */
export function OverviewPage() {
  const [search, setSearch] = useState('');
  // The names after which the pages shown so far began: the last is this page's, the others lead back.
  const [starts, setStarts] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<string | null>(null);
  const after = starts.at(-1) ?? null;

  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      const query = new URLSearchParams({ search, after: after ?? '' });
      get<Page>(`/devices?${query.toString()}`).then((p) => {
        if (!current) return;
        setPage(p);
        setError(null);
      }, (e: Error) => current && setError(e.message));
    }, search === '' ? 0 : 200);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [search, after]);

  const onSearch = (event: Event) => {
    setSearch((event.target as HTMLInputElement).value);
    setStarts([null]);
  };
  return html`
    <h1>Fleet</h1>
    <div class="toolbar">
      <input type="search" placeholder="Device name starts with…" aria-label="Search devices" value=${search} onInput=${onSearch} />
      <button disabled=${starts.length === 1} onClick=${() => setStarts(starts.slice(0, -1))}>Previous</button>
      <button disabled=${!page?.next} onClick=${() => page?.next && setStarts([...starts, page.next])}>Next</button>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${page === null ? html`<p class="loading">Loading…</p>` : html`
      <table class="devices">
        <thead><tr>
          <th>Device</th><th>Protocol</th><th>State</th><th>Last seen</th><th>One-time prekeys</th>
          <th>Signed prekey age</th><th>Mailbox</th><th>Alerts</th>
        </tr></thead>
        <tbody>
          ${page.devices.map((d) => html`
            <tr key=${d.device}>
              <td><a href=${`#/device/${encodeURIComponent(d.device)}`}>${d.device}</a></td>
              <td>${d.protocol}</td>
              <td>${stateBadge(d.state)}</td>
              <td>${ago(d.last_seen)}</td>
              <td class="number">${d.one_time_prekeys}</td>
              <td class="number">${d.signed_prekey_age_days === null ? '–' : `${d.signed_prekey_age_days} d`}</td>
              <td class="number">${d.mailbox_messages}</td>
              <td>${alertBadges(d.alerts)}</td>
            </tr>`)}
        </tbody>
      </table>
      ${page.devices.length === 0 && html`<p class="empty">No devices${search ? ` whose name starts with “${search}”` : ''}.</p>`}`}`;
}
