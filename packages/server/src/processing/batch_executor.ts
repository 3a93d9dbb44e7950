import type { Logger } from 'pino';
import type { Database, Sql } from '../storage/database.js';
import { DatabaseUnavailableError, isTransactionConflict, StorageFailureError } from '../storage/database_errors.js';
import {
  findProcessedReplies, insertProcessedReplies, isAlreadyRecorded,
} from '../storage/queries/processed_request_queries.js';
import { FairQueue } from './fair_queue.js';
import { RequestRaceError } from './request_race.js';
import type { Reply } from './request_protocol.js';

export interface Job {
  /** Who sent the request: requests wait in one queue per sender, served round robin (FairQueue). */
  sender: string;
  /** Identifies one request across redeliveries; null for requests that cannot be told apart (no Correlation Data). */
  digest: string | null;
  execute: (sql: Sql) => Promise<Reply>;
  /** Replies of the request's protocol for failures outside the request itself. */
  unavailableReply: Reply;
  failedReply: Reply;
}

interface Queued {
  job: Job;
  resolve: (reply: Reply) => void;
}

export interface BatchExecutorOptions {
  /** Most requests committed by one transaction. */
  maxBatchSize: number;
  /** Most transactions in flight at once. */
  maxConcurrentBatches: number;
  /** Observes the size of each transaction's batch (a metric). */
  onBatch?: (size: number) => void;
  /** Hears of every transaction the store could not write (disk full...): readiness reports it. */
  onStorageFailure?: (error: StorageFailureError) => void;
}

const MAX_ATTEMPTS = 5;

/**
 * Runs requests in transactions of several requests each (group commit): one commit costs about
 * as much as the requests in it together, so batching multiplies throughput under load, while a
 * lone request still gets its own transaction at once. A reply is released only after its
 * transaction commits, so every answered write is durable.
 *
 * Exactly-once: each request with a digest is recorded with its reply in the same transaction as
 * its effect. A redelivered request (QoS 1 duplicate, another replica) collides with the record,
 * its transaction rolls back, and it runs again alone, finding the record: it gets the recorded
 * reply again instead of taking effect twice.
 *
 * If a batch fails, its requests are run again one per transaction, so one bad request cannot
 * fail the others; none of the batch's effects remain, since the whole transaction rolled back.
 */
export class BatchExecutor {
  private readonly queue = new FairQueue<Queued>();
  /** Transactions in flight, and how many of them are still running their requests (not yet committing). */
  private running = 0;
  private working = 0;
  private idle: (() => void)[] = [];

  constructor(private readonly database: Database, private readonly options: BatchExecutorOptions, private readonly log: Logger) {}

  run(job: Job): Promise<Reply> {
    return new Promise((resolve) => {
      this.queue.push(job.sender, { job, resolve });
      this.pump();
    });
  }

  /** Requests of this sender waiting for a transaction. */
  waiting(sender: string): number {
    return this.queue.waiting(sender);
  }

  /** Resolves once every request submitted so far has its reply. */
  drain(): Promise<void> {
    if (this.running === 0 && this.queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Starts a batch when no other batch is still running its requests: while one commits, the
   * next one gathers what arrived meanwhile and runs. So batches grow
   * with the load, and a request waits for at most one batch's statements before its own start,
   * plus one batch for each batch's worth of requests of other senders ahead of it in turn.
   */
  private pump(): void {
    while (this.working === 0 && this.running < this.options.maxConcurrentBatches && this.queue.size > 0) {
      const batch = this.queue.take(this.options.maxBatchSize);
      this.running += 1;
      this.working += 1;
      this.options.onBatch?.(batch.length);
      let working = true;
      const committing = () => {
        if (!working) return;
        working = false;
        this.working -= 1;
        this.pump();
      };
      void this.process(batch, 1, committing).finally(() => {
        committing();
        this.running -= 1;
        this.pump();
        if (this.running === 0 && this.queue.size === 0) for (const wake of this.idle.splice(0)) wake();
      });
    }
  }

  /**
   * First attempt: run the batch without looking up earlier replies (redeliveries are rare), and
   * let the insert of the processed-request records detect one. Then each request of a failed
   * batch runs alone, looking up its earlier reply first.
   */
  private async process(batch: Queued[], attempt: number, committing?: () => void): Promise<void> {
    let replies: Reply[];
    try {
      replies = await this.database.transaction(async (sql) => {
        const result = await this.runBatch(sql, batch.map((item) => item.job), attempt > 1);
        committing?.();
        return result;
      });
    } catch (error) {
      if (error instanceof StorageFailureError) this.options.onStorageFailure?.(error);
      // A request that needs no new space may still succeed alone.
      if (error instanceof StorageFailureError && batch.length > 1) {
        for (const item of batch) await this.process([item], attempt);
      } else if (error instanceof DatabaseUnavailableError) {
        this.log.warn({ err: error, requests: batch.length }, 'database unavailable; requests answered with a retryable error');
        for (const item of batch) item.resolve(item.job.unavailableReply);
      } else if (batch.length > 1) {
        for (const item of batch) await this.process([item], 2);
      } else if ((isAlreadyRecorded(error) || error instanceof RequestRaceError || isTransactionConflict(error)) &&
        attempt < MAX_ATTEMPTS) {
        await this.process(batch, attempt + 1);
      } else {
        this.log.error({ err: error }, 'request failed');
        batch[0]!.resolve(batch[0]!.job.failedReply);
      }
      return;
    }
    batch.forEach((item, index) => item.resolve(replies[index]!));
  }

  /**
   * Runs the batch's requests concurrently in one transaction: their statements are pipelined to
   * the database instead of waiting one round trip each. Every request is settled before the
   * transaction ends, so no statement of a request can run after its rollback.
   */
  private async runBatch(sql: Sql, jobs: Job[], lookUpEarlierReplies: boolean): Promise<Reply[]> {
    const digests = lookUpEarlierReplies ? jobs.flatMap((job) => (job.digest === null ? [] : [job.digest])) : [];
    const recorded = digests.length > 0 ? await findProcessedReplies(sql, digests) : new Map<string, string>();
    // A request delivered twice within one batch runs once; the copy gets its reply.
    const running = new Map<string, Promise<Reply>>();
    const runs = jobs.map((job): Promise<Reply> => {
      const earlier = job.digest === null ? undefined : recorded.get(job.digest);
      if (earlier !== undefined) return Promise.resolve<Reply>({ body: earlier, outcome: 'replayed' });
      const first = job.digest === null ? undefined : running.get(job.digest);
      if (first) return first.then((reply) => ({ body: reply.body, outcome: 'replayed' }));
      const run = job.execute(sql);
      if (job.digest !== null) running.set(job.digest, run);
      return run;
    });
    const settled = await Promise.allSettled(runs);
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    const replies = settled.map((result) => (result as PromiseFulfilledResult<Reply>).value);
    if (running.size > 0) {
      const entries = (await Promise.all([...running].map(async ([digest, run]) => ({ digest, reply: await run }))))
        .filter(({ reply }) => !reply.unrecorded).map(({ digest, reply }) => ({ digest, reply: reply.body }));
      // Not awaited: on PostgreSQL it travels with the COMMIT. If a request was processed before, it
      // fails and the whole transaction rolls back (see Database.transaction).
      if (entries.length > 0) void insertProcessedReplies(sql, entries).catch(() => {});
    }
    return replies;
  }
}
