/**
 * Human-readable output shared by the menu and the subcommands, worded as the firmware prints it
 * where the firmware prints something.
 */
export function formatUsers(users: readonly string[], me: string | null): string {
  const lines = users.map((user) => (user === me ? ` * ${user} (You)` : ` - ${user}`));
  return ['--- Registered Users ---', ...lines, '------------------------'].join('\n');
}

export function formatRegistered(result: { username: string; renamedFrom: string | null; newIdentity: boolean }): string {
  const lines = [result.newIdentity ? 'Generated new Identity Keys.' : 'Identity keys already exist. Skipping generation.'];
  lines.push(result.renamedFrom === null
    ? `Identity registered successfully as '${result.username}'.`
    : `Username '${result.renamedFrom}' taken. Server assigned: '${result.username}'`);
  return lines.join('\n');
}

export function formatPublished(result: { signedPreKeyId: number; oneTimePreKeyIds: number[] }): string {
  const ids = result.oneTimePreKeyIds;
  const range = ids.length === 0 ? 'none' : ids.length === 1 ? `${ids[0]}` : `${ids[0]}-${ids.at(-1)}`;
  return `Bundle published: signed prekey ${result.signedPreKeyId}, one-time prekeys ${range}.`;
}

export function formatInitialSent(peer: string, result: { oneTimePreKeyId: number | null; identityChanged: boolean }): string {
  const opk = result.oneTimePreKeyId === null ? 'no one-time prekey left' : `one-time prekey ${result.oneTimePreKeyId}`;
  return [...identityWarning(peer, result.identityChanged), `Shared Key calculated. Initial message sent to ${peer} (${opk}).`].join('\n');
}

export function formatIncomingSession(session: { peer: string; text: string; identityChanged: boolean } | null): string {
  if (session === null) return 'No new X3DH requests.';
  return [
    ...identityWarning(session.peer, session.identityChanged),
    `Handshake accepted from ${session.peer}.`,
    `--- Message from ${session.peer} ---`, session.text, '-----------------------',
  ].join('\n');
}

export function formatRead(peer: string, result: { messages: string[]; undecryptable: number }): string {
  const lines = result.messages.map((text) => `[${peer}]: ${text}`);
  if (result.messages.length === 0) lines.push(`No new messages from ${peer}`);
  if (result.undecryptable > 0) lines.push(`${result.undecryptable} message(s) from ${peer} could not be decrypted and were dropped.`);
  return lines.join('\n');
}

function identityWarning(peer: string, changed: boolean): string[] {
  return changed ? [`WARNING: ${peer}'s identity key is not the one seen before. Check with ${peer} that this is expected.`] : [];
}
