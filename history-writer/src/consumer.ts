/**
 * The consumer loop: kafkajs eachBatch, offsets committed only after the batch's rows are (a crash
 * replays the batch, which the idempotent insert turns into nothing new). When the database fails
 * the partition is paused and the batch fetched again after a backoff (250 ms doubling to 10 s):
 * nothing is skipped, heartbeats go on.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type pg from 'pg';
import { commitBatch, partitionBackoff, type Logger } from '@greenlane/common';
import { decodeTelemetry } from './decode.js';
import { writeIsolating } from './writer.js';
import type { Metrics } from './metrics.js';

export interface ConsumerLoop {
  stop(): void;
}

function backlog(highWatermark: string, offset: string): number {
  return Math.max(0, Number(BigInt(highWatermark) - BigInt(offset)));
}

export async function runConsumer(opts: {
  consumer: Consumer;
  withDb: <T>(fn: (client: pg.ClientBase) => Promise<T>) => Promise<T>;
  metrics: Metrics;
  log: Logger;
  concurrency: number;
}): Promise<ConsumerLoop> {
  const { consumer, metrics, log } = opts;
  const backoff = partitionBackoff();
  let rejectionsLogged = 0;

  const eachBatch = async ({ batch, resolveOffset, commitOffsetsIfNecessary, pause, isStale }: EachBatchPayload) => {
    if (batch.messages.length === 0) return;
    const { topic, partition } = batch;
    const labels = { topic, partition: String(partition) };
    const endTimer = metrics.batchSeconds.startTimer();
    metrics.consumerLag.set(labels, backlog(batch.highWatermark, batch.firstOffset() ?? batch.highWatermark));
    const decoded = decodeTelemetry(batch.messages.map((m) => m.value));
    let outcome;
    try {
      outcome = await writeIsolating(opts.withDb, decoded.rows);
    } catch (error) {
      if (isStale()) return;
      metrics.pauses.inc();
      const delay = backoff.putBack(pause);
      log.warn({ err: (error as Error).message, topic, partition, offset: batch.firstOffset(), retryInMs: delay }, 'batch not written: pausing the partition');
      return;
    }
    backoff.succeeded();
    const next = await commitBatch({ batch, resolveOffset, commitOffsetsIfNecessary });
    endTimer();
    const rejected = decoded.rejected.length + outcome.refused.length;
    metrics.eventsConsumed.inc(batch.messages.length);
    metrics.rowsInserted.inc(outcome.inserted);
    metrics.rowsDuplicate.inc(decoded.rows.count - outcome.refused.length - outcome.inserted);
    metrics.rejected.inc(rejected);
    metrics.consumerLag.set(labels, backlog(batch.highWatermark, next));
    // The first rejections in full, then one line per batch that has any (a fuzzer can send millions).
    if (rejected > 0) {
      const examples = [...decoded.rejected.map((r) => ({ offset: batch.messages[r.index]?.offset, reason: r.reason })), ...outcome.refused.map((r) => ({ row: r.row, reason: r.reason }))];
      if (rejectionsLogged < 20) log.warn({ topic, partition, examples: examples.slice(0, 5) }, `${rejected} telemetry event(s) skipped: they cannot be rows`);
      else log.debug({ topic, partition, rejected }, 'telemetry events skipped');
      rejectionsLogged++;
    }
    log.debug({ topic, partition, events: batch.messages.length, inserted: outcome.inserted }, 'batch committed');
  };

  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: opts.concurrency, eachBatch });

  return {
    stop: () => backoff.stop(),
  };
}
