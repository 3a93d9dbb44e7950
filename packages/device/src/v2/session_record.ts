import { decodeRatchetSession } from '@x3dh-iot/protocol';
import type { IdentityKey, SharedKey } from './keys.js';
import type { PeerSession, RatchetSessionState, SessionRecord, SharedKeySession } from './v2_state.js';

/**
 * Archived sessions kept per peer, newest first (libsignal keeps 40). A crossed handshake needs one;
 * a few more cover a peer that started again while messages of its earlier session were in flight.
 */
export const ARCHIVED_SESSIONS_KEPT = 4;
/** Message numbers above the floor remembered per envelope-version-1 session; older gaps are given up. */
const RECEIVED_NUMBERS_KEPT = 256;

export function ratchetSession(ratchet: Uint8Array, peerIdentityKey: IdentityKey, role: PeerSession['role'], now: Date): RatchetSessionState {
  return { kind: 'ratchet', ratchet, sent: role === 'initiator' ? 1 : 0, peerIdentityKey, role, establishedAt: now };
}

export function sharedKeySession(sharedKey: SharedKey, peerIdentityKey: IdentityKey, role: PeerSession['role'], now: Date): SharedKeySession {
  return { kind: 'shared-key', sharedKey, peerIdentityKey, role, establishedAt: now, sendNext: 0, receivedFloor: 0, receivedAbove: [] };
}

/** Messages this device sent in the session. */
export function sentCount(session: PeerSession): number {
  return session.kind === 'ratchet' ? session.sent : session.sendNext;
}

/** Makes `session` the current one, archiving the one it replaces. */
export function promote(record: SessionRecord, session: PeerSession): void {
  record.archived = [record.current, ...record.archived].slice(0, ARCHIVED_SESSIONS_KEPT);
  record.current = session;
}

/** Makes an archived session the current one. */
export function makeCurrent(record: SessionRecord, session: PeerSession): void {
  record.archived = record.archived.filter((s) => s !== session);
  promote(record, session);
}

/** Keeps `session` only to open messages in flight in it. */
export function archive(record: SessionRecord, session: PeerSession): void {
  record.archived = [session, ...record.archived].slice(0, ARCHIVED_SESSIONS_KEPT);
}

/** The current session first, then the archived ones, newest first: the order messages are tried in. */
export function sessionsOf(record: SessionRecord): PeerSession[] {
  return [record.current, ...record.archived];
}

/** Replaces `old` (the current or an archived session) by its next state. */
export function replace(record: SessionRecord, old: PeerSession, next: PeerSession): void {
  if (record.current === old) record.current = next;
  else record.archived = record.archived.map((s) => (s === old ? next : s));
}

/** Whether this device has received anything in the session (a responder has: the first message). */
function hasReceived(session: PeerSession): boolean {
  if (session.role === 'responder') return true;
  if (session.kind === 'shared-key') return session.receivedFloor > 0 || session.receivedAbove.length > 0;
  return decodeRatchetSession(session.ratchet).receivingChainKey !== null;
}

/**
 * Both sides started a chat before reading the other's handshake. Both keep as current the session
 * that the device with the smaller name initiated, and archive the other, so messages sent in
 * either open. A current session that has received a message is not a crossing but a live one,
 * and a new handshake then replaces it (the peer started again).
 */
export function crossedHandshake(record: SessionRecord, me: string | null, from: string): boolean {
  return !hasReceived(record.current) && me !== null && me < from;
}

/** Whether message number n of a version-1 session was accepted before (or is below the floor, given up). */
export function receivedBefore(session: SharedKeySession, n: number): boolean {
  return n < session.receivedFloor || session.receivedAbove.includes(n);
}

/** Records n as accepted: the floor moves up over consecutive numbers; a long gap is given up. */
export function recordReceived(session: SharedKeySession, n: number): void {
  const above = [...session.receivedAbove, n].sort((a, b) => a - b);
  while (above[0] === session.receivedFloor) {
    above.shift();
    session.receivedFloor += 1;
  }
  if (above.length > RECEIVED_NUMBERS_KEPT) {
    const dropped = above.splice(0, above.length - RECEIVED_NUMBERS_KEPT);
    session.receivedFloor = dropped.at(-1)! + 1;
  }
  session.receivedAbove = above;
}
