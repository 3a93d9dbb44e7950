import { purgeInBatches } from '../storage/batched_purge.js';
import type { Database } from '../storage/database.js';
import { purgeExpiredMessages, purgeSentMessages } from '../storage/queries/mailbox_message_queries.js';
import { purgeHandOuts } from '../storage/queries/prekey_handout_queries.js';
import { purgeRequestIds } from '../storage/queries/request_id_queries.js';
import { requestIdRetentionSeconds } from './request_authentication.js';

/**
 * Deletes what v2 no longer needs, in bounded batches (purgeInBatches): messages past their
 * retention, send records whose message could no longer be waiting, records of one-time prekey
 * hand-outs older than two retention periods (so that a device offline for one still learns of
 * them), and request ids past their retention on the server's clock `now` (a request that old is
 * refused as stale anyway, see requestIdRetentionSeconds). Returns the rows deleted.
 */
export async function purgeV2(
  database: Database, clockSkewSeconds: number, now: number, messageRetentionSeconds: number, limit?: number,
): Promise<number> {
  const keepSeconds = requestIdRetentionSeconds(clockSkewSeconds);
  return await purgeInBatches(database, purgeExpiredMessages, limit)
    + await purgeInBatches(database, purgeSentMessages, limit)
    + await purgeInBatches(database, (sql, batch) => purgeRequestIds(sql, now, keepSeconds, batch), limit)
    + await purgeInBatches(database, (sql, batch) => purgeHandOuts(sql, now, 2 * messageRetentionSeconds, batch), limit);
}
