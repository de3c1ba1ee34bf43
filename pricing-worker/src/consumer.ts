/**
 * The consumer loop: kafkajs eachBatch with manual offsets. A batch's offset is resolved and
 * committed only after processBatch has committed its rows (and sent its dead letters), so a crash
 * at any point replays the batch, which the idempotent writer turns into nothing new.
 *
 * When the grid, the database or the DLQ fails, the partition is paused, the batch is left
 * unresolved (kafkajs fetches it again from the last resolved offset) and the partition resumes
 * after a backoff (250 ms doubling to 10 s): nothing is skipped, and heartbeats go on meanwhile.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { GridError } from '@greenlane/common/grid-client';
import { commitBatch, partitionBackoff, type Logger } from '@greenlane/common';
import { processBatch, type BatchDeps } from './batch.js';
import type { Metrics } from './metrics.js';

export interface ConsumerLoop {
  /** Paused partitions waiting for their backoff to end. */
  readonly paused: number;
  stop(): void;
}

/** Messages from `offset` up to the high watermark. */
function backlog(highWatermark: string, offset: string): number {
  return Math.max(0, Number(BigInt(highWatermark) - BigInt(offset)));
}

function causeOf(error: unknown): 'grid' | 'database' | 'dlq' {
  if (error instanceof GridError || (error as Error | undefined)?.name === 'GridError') return 'grid';
  if ((error as { name?: string } | undefined)?.name?.startsWith('KafkaJS')) return 'dlq';
  return 'database';
}

export async function runConsumer(opts: {
  consumer: Consumer;
  deps: BatchDeps;
  metrics: Metrics;
  log: Logger;
  concurrency: number;
}): Promise<ConsumerLoop> {
  const { consumer, deps, metrics, log } = opts;
  const backoff = partitionBackoff();

  const eachBatch = async ({ batch, resolveOffset, commitOffsetsIfNecessary, pause, isStale }: EachBatchPayload) => {
    if (batch.messages.length === 0) return;
    const { topic, partition } = batch;
    const endTimer = metrics.batchSeconds.startTimer();
    const lagLabels = { topic, partition: String(partition) };
    // Set before processing too: while batches fail (and are fetched again from the same offset)
    // the gauge shows the backlog waiting from this batch on, not the lag of the last success.
    metrics.consumerLag.set(lagLabels, backlog(batch.highWatermark, batch.firstOffset() ?? batch.highWatermark));
    let outcome;
    try {
      outcome = await processBatch(deps, topic, partition, batch.messages);
    } catch (error) {
      if (isStale()) return;
      const cause = causeOf(error);
      metrics.pauses.inc({ cause });
      const delay = backoff.putBack(pause);
      log.warn({ err: (error as Error).message, cause, topic, partition, offset: batch.firstOffset(), retryInMs: delay }, 'batch not processed: pausing the partition');
      return;
    }
    backoff.succeeded();
    const next = await commitBatch({ batch, resolveOffset, commitOffsetsIfNecessary });
    endTimer();
    metrics.eventsConsumed.inc(outcome.events);
    metrics.rowsInserted.inc(outcome.inserted);
    metrics.rowsSkipped.inc(outcome.samples - outcome.inserted);
    metrics.noteRows(outcome.inserted);
    metrics.deadLetters.inc(outcome.poison);
    metrics.recomputedSessions.inc(outcome.recomputedSessions);
    metrics.consumerLag.set(lagLabels, backlog(batch.highWatermark, next));
    log.debug({ topic, partition, ...outcome }, 'batch committed');
  };

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.concurrency,
    eachBatch,
  });

  return {
    get paused() {
      return backoff.paused;
    },
    stop: () => backoff.stop(),
  };
}
