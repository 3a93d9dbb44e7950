import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

/** A button that asks once more, in the page, before it acts. */
export function ConfirmButton({ label, question, onConfirm, danger = false }: {
  label: string; question: string; onConfirm: () => void; danger?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) return html`<button class=${danger ? 'danger' : ''} onClick=${() => setAsking(true)}>${label}</button>`;
  return html`
    <span class="confirm" role="alertdialog">
      ${question}
      <button class="danger" onClick=${() => {
        setAsking(false);
        onConfirm();
      }}>Confirm ${label.toLowerCase()}</button>
      <button onClick=${() => setAsking(false)}>Cancel</button>
    </span>`;
}
