import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import type { AuditEntry } from '../types.js';
import { AuditTable } from './audit_table.js';

/** The audit log, newest first, a page at a time. */
export function AuditPage() {
  const [befores, setBefores] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<{ entries: AuditEntry[]; next: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const before = befores.at(-1) ?? null;
  useEffect(() => {
    get<{ entries: AuditEntry[]; next: string | null }>(`/audit${before === null ? '' : `?before=${before}`}`)
      .then(setPage, (e: Error) => setError(e.message));
  }, [before]);
  return html`
    <h1>Audit log</h1>
    <p class="hint">Every change made by an operator, in the console or with the x3dh-server commands, and every console login.</p>
    <div class="toolbar">
      <button disabled=${befores.length === 1} onClick=${() => setBefores(befores.slice(0, -1))}>Newer</button>
      <button disabled=${!page?.next} onClick=${() => page?.next && setBefores([...befores, page.next])}>Older</button>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${page && html`<${AuditTable} entries=${page.entries} />`}`;
}
