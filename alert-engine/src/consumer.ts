/**
 * The consumer loop (kafkajs eachBatch, one partition's batch at a time per partition):
 *
 *   1. read the partition's stored offset and outbox; send what the outbox holds (a batch before
 *      this one was decided but its events not confirmed sent: a crash or an outage);
 *   2. skip the messages below the stored offset (already applied: a replay after a crash between
 *      the state write and the Kafka commit);
 *   3. read the cars' states, run the rules (engine.ts), write states + alert records + outbox +
 *      next offset in one script, only if the stored offset is still the one read in 1;
 *   4. send the alert events to fleet-alerts, drop them from the outbox, commit (fleet_alerts is
 *      written apart, from the queue the same script filled: sink.ts).
 *
 * So state is applied exactly once per offset, and every alert event is sent at least once, with
 * a stable event id. When Redis, Kafka or the database fails the partition is paused and the
 * batch fetched again after a backoff (250 ms doubling to 10 s), as in the other consumers.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { commitBatch, partitionBackoff, type Logger } from '@greenlane/common';
import { decodeEvent } from './decode.js';
import { applyBatch, type EngineSettings } from './engine.js';
import type { Metrics } from './metrics.js';
import type { Sink } from './sink.js';
import type { AlertStore } from './store.js';
import { transitionOf, type AlertEvent, type Input } from './types.js';

export interface ConsumerLoop {
  stop(): void;
}

function backlog(highWatermark: string, offset: string): number {
  return Math.max(0, Number(BigInt(highWatermark) - BigInt(offset)));
}

export function countSent(metrics: Metrics, events: AlertEvent[]): void {
  for (const e of events) metrics.transitions.inc({ rule: e.rule, transition: transitionOf(e) });
}

export async function runConsumer(opts: {
  consumer: Consumer;
  store: AlertStore;
  sink: Sink;
  settings: EngineSettings;
  metrics: Metrics;
  log: Logger;
  concurrency: number;
}): Promise<ConsumerLoop> {
  const { consumer, store, sink, metrics, log } = opts;
  const backoff = partitionBackoff();
  let rejectionsLogged = 0;

  const process = async (payload: EachBatchPayload): Promise<void> => {
    const { batch, isStale } = payload;
    const { topic, partition } = batch;
    // Decoded before the state is read, so that the partition's offset, its outbox and the cars'
    // states come in one round of requests.
    const decodedAll = batch.messages.map((message) => ({ offset: message.offset, decoded: decodeEvent(message.value) }));
    const carIds = new Set<string>();
    for (const d of decodedAll) if (d.decoded.ok) carIds.add(d.decoded.input.carId);
    const [stored, cars] = await Promise.all([store.partition(topic, partition), store.loadCars([...carIds])]);
    if (stored.outbox.raw.length > 0) {
      await sink.publish(stored.outbox.events);
      countSent(metrics, stored.outbox.events);
      metrics.outboxResent.inc(stored.outbox.raw.length);
      await store.confirm(stored.outbox);
      log.info({ topic, partition, events: stored.outbox.raw.length }, 'sent the alert events an interrupted batch had left in the outbox');
    }
    const from = stored.offset === '' ? -1n : BigInt(stored.offset);
    const inputs: Input[] = [];
    const types: Record<string, number> = {};
    const rejected: Array<{ offset: string; reason: string }> = [];
    let replayed = 0;
    for (const { offset, decoded } of decodedAll) {
      if (from >= 0n && BigInt(offset) < from) {
        replayed++;
        continue;
      }
      if (decoded.ok) {
        inputs.push(decoded.input);
        const type = decoded.input.kind === 'presence' ? (decoded.input.online ? 'car_online' : 'car_offline') : decoded.input.kind;
        types[type] = (types[type] ?? 0) + 1;
      } else if (decoded.ignored) types.other = (types.other ?? 0) + 1;
      else rejected.push({ offset, reason: decoded.reason });
    }
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    let alerts: AlertEvent[] = [];
    let skipped = { late: 0, stale: 0, duplicate: 0 };
    if (replayed < batch.messages.length) {
      const outcome = applyBatch(cars, inputs, opts.settings);
      alerts = outcome.alerts;
      skipped = outcome.skipped;
      if (isStale()) return;
      const written = await store.commit({ topic, partition, expected: stored.offset, next, cars, touched: outcome.touched, alerts });
      if (written === undefined) {
        metrics.staleBatches.inc();
        log.warn({ topic, partition, offset: batch.firstOffset(), stored: stored.offset }, 'the partition moved on under this consumer (a rebalance): batch dropped');
        return;
      }
      if (alerts.length > 0) {
        await sink.publish(alerts);
        countSent(metrics, alerts);
        // Sent: the outbox entries go and the offset is committed together (either may lag: the
        // next batch skips the offsets below the stored one, and resends are harmless).
        await Promise.all([store.confirm(written), commitBatch(payload)]);
      } else await commitBatch(payload);
    } else await commitBatch(payload);
    for (const [type, n] of Object.entries(types)) metrics.eventsConsumed.inc({ type }, n);
    if (replayed > 0) metrics.eventsSkipped.inc({ reason: 'replayed' }, replayed);
    for (const [reason, n] of Object.entries(skipped)) if (n > 0) metrics.eventsSkipped.inc({ reason }, n);
    if (rejected.length > 0) {
      metrics.eventsSkipped.inc({ reason: 'malformed' }, rejected.length);
      if (rejectionsLogged++ < 20) log.warn({ topic, partition, examples: rejected.slice(0, 5) }, `${rejected.length} event(s) skipped: malformed`);
    }
    metrics.consumerLag.set({ topic, partition: String(partition) }, backlog(batch.highWatermark, next));
    log.debug({ topic, partition, events: batch.messages.length, alerts: alerts.length }, 'batch committed');
  };

  const eachBatch = async (payload: EachBatchPayload) => {
    if (payload.batch.messages.length === 0) return;
    const endTimer = metrics.batchSeconds.startTimer();
    try {
      await process(payload);
      backoff.succeeded();
      endTimer();
    } catch (error) {
      if (payload.isStale()) return;
      metrics.pauses.inc();
      const delay = backoff.putBack(payload.pause);
      log.warn({ err: (error as Error).message, topic: payload.batch.topic, partition: payload.batch.partition, offset: payload.batch.firstOffset(), retryInMs: delay }, 'batch not done: pausing the partition');
    }
  };

  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: opts.concurrency, eachBatch });
  return { stop: () => backoff.stop() };
}
