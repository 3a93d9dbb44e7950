import type { Sql } from '../database.js';

/** One function per SQL statement behind the operator's device commands. */

export interface DeviceRow {
  username: string;
  identity_key: Uint8Array;
  created_at: Date;
  deleted_at: Date | null;
  disabled_at: Date | null;
  signed_prekey_id: number | null;
  one_time_prekeys: number;
  mailbox_messages: number;
}

/**
 * A page of devices in name order after `after` (keyset pagination over the unique index on the
 * name): each page reads its own rows and their counts, whatever the fleet's size. The first page
 * is the one after '', which sorts before every name.
 */
export async function listDevices(sql: Sql, after: string | null, limit: number): Promise<DeviceRow[]> {
  return sql.query<DeviceRow>(
    `SELECT u.username, u.identity_key, u.created_at, u.deleted_at, u.disabled_at, u.signed_prekey_id,
       (SELECT count(*)::integer FROM one_time_prekeys o WHERE o.user_id = u.id) AS one_time_prekeys,
       (SELECT count(*)::integer FROM mailbox_messages m WHERE m.recipient_id = u.id) AS mailbox_messages
     FROM users u WHERE u.username > $1::text
     ORDER BY u.username LIMIT $2`,
    [after ?? '', limit]);
}
