import { wireV2 } from '@x3dh-iot/protocol';
import type { MailboxProblem, SafetyNumberReport, SecureDevice } from '../v2/secure_device.js';

/** Human-readable output of the v2-only steps. */

const DAY_MS = 24 * 3600 * 1000;

export function formatProblems(problems: readonly MailboxProblem[]): string[] {
  return problems.map((p) => `Refused message ${p.mailboxId} from ${p.peer} (kept in the mailbox): ${p.error.message}`);
}

export function formatSafetyNumber(report: SafetyNumberReport): string {
  const state = !report.pinned ? ' (not pinned yet: the directory\'s key)' : report.verified ? ' (verified)' : ' (pinned on first use, not verified)';
  const lines = [`Safety number with ${report.peer}${state}:`, `  ${wireV2.formatSafetyNumber(report.safetyNumber)}`];
  if (report.changed) {
    lines.push(
      '',
      `WARNING: the directory now holds ANOTHER identity key for ${report.peer}. With that key the safety number would be:`,
      `  ${wireV2.formatSafetyNumber(report.directorySafetyNumber!)}`,
      `Handshakes and messages with ${report.peer} are refused until you accept it with: trust ${report.peer} <the new number>`,
      `Do that only after ${report.peer} confirms the new number out of band.`,
    );
  } else {
    lines.push(`Compare it with ${report.peer} in person or over another channel; both sides see the same digits.`);
  }
  return lines.join('\n');
}

export function formatTrusted(trusted: Awaited<ReturnType<SecureDevice['trust']>>): string {
  if (trusted.previousIdentityKey === trusted.identityKey) {
    return `${trusted.peer}'s identity key was already the pinned one. Safety number:\n  ${wireV2.formatSafetyNumber(trusted.safetyNumber)}`;
  }
  const lines = trusted.previousIdentityKey === null
    ? [`Pinned ${trusted.peer}'s identity key ${trusted.identityKey}.`]
    : [
      `WARNING: ${trusted.peer}'s pinned identity key ${trusted.previousIdentityKey} is REPLACED by ${trusted.identityKey}.`,
      `If ${trusted.peer} did not confirm this new safety number out of band, someone may be impersonating ${trusted.peer}.`,
    ];
  lines.push(`Safety number now:\n  ${wireV2.formatSafetyNumber(trusted.safetyNumber)}`);
  return lines.join('\n');
}

export function formatStatusV2(
  local: SecureDevice['localStatus'], server: Awaited<ReturnType<SecureDevice['preKeyStatus']>> | null,
): string {
  const spk = local.signedPreKey;
  const lines = [
    `User: ${local.username ?? '(none)'} (wire protocol v2)`,
    `Identity key: ${local.identityKey ?? '(none: register first)'}`,
    `Signed prekey: ${spk ? `${spk.id}, created ${spk.createdAt} (${(spk.ageMs / DAY_MS).toFixed(1)} days old)` : '(none: publish first)'}`,
    `Signed prekeys held (current and in their grace period): ${local.signedPreKeyIdsHeld.join(', ') || '(none)'}`,
    `One-time prekeys held: ${local.oneTimePreKeysHeld}`,
    `Sessions: ${local.sessions.length === 0 ? '(none)' : local.sessions.map((s) => `${s.peer} (${s.role}, ${s.sent} sent)`).join(', ')}`,
    `Pinned identities: ${local.pinned.join(', ') || '(none)'}`,
    `Peers' keys: ${local.trust}`,
    ...local.certified.filter((c) => c.certifiedRotationAt !== null).map((c) =>
      `Certified rotation: ${c.peer}'s identity key was replaced at ${c.certifiedRotationAt} by an operator-certified key (epoch ${c.epoch}), accepted without a person`),
    `Unread texts: ${local.unread}; messages waiting to be sent again: ${local.outbox}`,
    `Messages refused and removed from the mailbox: ${local.refused.length}` +
      (local.refused.length === 0 ? '' : `; latest: ${local.refused.at(-1)!.refusedAt} ${local.refused.at(-1)!.reason}`),
  ];
  if (server) {
    lines.push(`On the server: ${server.one_time_prekeys} one-time prekeys, signed prekey ${server.signed_prekey_id ?? '(none)'}` +
      (server.signed_prekey_uploaded_at === null ? '' : ` uploaded ${new Date(server.signed_prekey_uploaded_at).toISOString()}`));
  }
  return lines.join('\n');
}
