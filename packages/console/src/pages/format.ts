import { html } from 'htm/preact';

/** How long ago an ISO time was, in the largest whole unit. */
export function ago(iso: string | null): string {
  if (iso === null) return 'never';
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

export function stateBadge(state: string) {
  return html`<span class=${`badge state-${state}`}>${state}</span>`;
}

export function alertBadges(alerts: readonly string[]) {
  return alerts.map((alert) => html`<span class="badge alert">${alert}</span>`);
}
