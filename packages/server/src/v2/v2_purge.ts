import type { Sql } from '../storage/database.js';
import { purgeExpiredMessages, purgeSentMessages } from '../storage/queries/mailbox_message_queries.js';
import { purgeHandOuts } from '../storage/queries/prekey_handout_queries.js';
import { purgeRequestIds } from '../storage/queries/request_id_queries.js';
import { requestIdRetentionSeconds } from './request_authentication.js';

/**
 * Deletes what v2 no longer needs: messages past their retention, send records whose message could
 * no longer be waiting, records of one-time prekey hand-outs older than two retention periods, and request ids past their retention on the server's clock `now` (a
 * request that old is refused as stale anyway, see requestIdRetentionSeconds).
 */
export async function purgeV2(sql: Sql, clockSkewSeconds: number, now: number, messageRetentionSeconds: number): Promise<void> {
  await purgeExpiredMessages(sql);
  await purgeSentMessages(sql);
  await purgeRequestIds(sql, now, requestIdRetentionSeconds(clockSkewSeconds));
  // Kept for two retention periods, so that a device offline for one still learns of them.
  await purgeHandOuts(sql, now, 2 * messageRetentionSeconds);
}
