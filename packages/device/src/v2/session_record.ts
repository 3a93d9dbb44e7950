import type { DeviceState } from '../device_state.js';
import type { IdentityKey, SharedKey } from './keys.js';
import type { V2Session } from './v2_state.js';

/** Message numbers above the floor remembered per session; older gaps are given up. */
const RECEIVED_NUMBERS_KEPT = 256;

export function newSession(peer: string, sharedKey: SharedKey, peerIdentityKey: IdentityKey, role: V2Session['role'], now: Date): V2Session {
  return { peer, sharedKey, peerIdentityKey, role, establishedAt: now, sendNext: 0, receivedFloor: 0, receivedAbove: [] };
}

/**
 * Both sides started a chat before reading the other's handshake: each would adopt the other's key
 * and they would end up with different ones. Both keep the session that the device with the smaller
 * name initiated. A session that has received a message is not a crossing but a live one, and a new
 * handshake then replaces it (the peer started again).
 */
export function crossedHandshake(state: DeviceState, from: string): boolean {
  const existing = state.v2.sessions.get(from);
  const silent = existing?.role === 'initiator' && existing.receivedFloor === 0 && existing.receivedAbove.length === 0;
  return silent && state.username !== null && state.username < from;
}

/** Whether message number n was accepted before (or is below the floor, given up). */
export function receivedBefore(session: V2Session, n: number): boolean {
  return n < session.receivedFloor || session.receivedAbove.includes(n);
}

/** Records n as accepted: the floor moves up over consecutive numbers; a long gap is given up. */
export function recordReceived(session: V2Session, n: number): void {
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
