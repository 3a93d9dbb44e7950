import type { Sql } from '../database.js';

/** One function per SQL statement behind the console's fleet overview and device pages. */

export interface FleetDeviceRow {
  username: string;
  wire_protocol: number;
  identity_key: Uint8Array;
  /** Epoch of the identity key's operator certificate: 1 at enrolment, one more at each rotation. */
  identity_epoch: number;
  /** Whether the stored certificate is for the current key (null: none issued yet, e.g. a v1 device). */
  identity_certificate: Uint8Array | null;
  created_at: Date;
  deleted_at: Date | null;
  disabled_at: Date | null;
  last_seen_at: Date | null;
  signed_prekey_id: number | null;
  signed_prekey_uploaded_at: Date | null;
  one_time_prekeys: number;
  mailbox_messages: number;
}

const COLUMNS = `u.username, u.wire_protocol, u.identity_key, u.identity_epoch::float8 AS identity_epoch, u.identity_certificate, u.created_at, u.deleted_at, u.disabled_at, u.last_seen_at,
  u.signed_prekey_id, u.signed_prekey_uploaded_at, u.queued_messages AS mailbox_messages,
  (SELECT count(*)::integer FROM one_time_prekeys o WHERE o.user_id = u.id) AS one_time_prekeys`;

/** Above every name that starts with a given prefix, in byte order: the highest code point (4 bytes, F4 8F BF BF). */
const ABOVE_PREFIX = '\u{10FFFF}';

/**
 * One page of devices in name order (bytes, so the users_name_bytes index serves the order), after
 * the name `after` and starting with `prefix`. Both are bounds of one index range, also in the
 * generic plan of the prepared statement: a page reads its rows and no others, wherever it is.
 */
export async function pageFleetDevices(
  sql: Sql, page: { after: string | null; prefix: string; limit: number },
): Promise<FleetDeviceRow[]> {
  return sql.query<FleetDeviceRow>(
    `SELECT ${COLUMNS} FROM users u
     WHERE (u.username COLLATE "C") > $1 AND (u.username COLLATE "C") >= $2 AND (u.username COLLATE "C") < $3
     ORDER BY (u.username COLLATE "C") LIMIT $4`,
    [page.after ?? '', page.prefix, `${page.prefix}${ABOVE_PREFIX}`, page.limit]);
}

export async function findFleetDevice(sql: Sql, name: string): Promise<FleetDeviceRow | null> {
  const rows = await sql.query<FleetDeviceRow>(`SELECT ${COLUMNS} FROM users u WHERE u.username = $1`, [name]);
  return rows[0] ?? null;
}

/** Records when devices were last served; a replica's older time never overwrites a newer one. */
export async function recordLastSeen(sql: Sql, names: readonly string[], times: readonly Date[]): Promise<void> {
  await sql.query(
    `UPDATE users u SET last_seen_at = GREATEST(u.last_seen_at, s.seen)
     FROM unnest($1::text[], $2::timestamptz[]) AS s (name, seen) WHERE u.username = s.name`,
    [names, times]);
}
