import { purgeInBatches } from '../storage/batched_purge.js';
import type { Database } from '../storage/database.js';
import { purgeExpiredMessages, purgeSentMessages } from '../storage/queries/mailbox_message_queries.js';
import { purgeRequestIds } from '../storage/queries/request_id_queries.js';
import { requestIdRetentionSeconds } from './request_authentication.js';

/**
 * Deletes what v2 no longer needs, in bounded batches (purgeInBatches): messages past their
 * retention, send records whose message could no longer be waiting, and request ids past their
 * retention on the server's clock `now` (a request that old is refused as stale anyway, see
 * requestIdRetentionSeconds). Returns the rows deleted.
 */
export async function purgeV2(database: Database, clockSkewSeconds: number, now: number, limit?: number): Promise<number> {
  const keepSeconds = requestIdRetentionSeconds(clockSkewSeconds);
  return await purgeInBatches(database, purgeExpiredMessages, limit)
    + await purgeInBatches(database, purgeSentMessages, limit)
    + await purgeInBatches(database, (sql, batch) => purgeRequestIds(sql, now, keepSeconds, batch), limit);
}
