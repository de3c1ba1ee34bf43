/**
 * Where alert events go once decided.
 *
 * - fleet-alerts (key = car id, acks from all replicas), sent from the partition's outbox on the
 *   batch's path: what operators and the live-ops tools wait for.
 * - fleet_alerts, written apart by `startDbWriter` from the `outbox:db` queue every decision also
 *   fills (in the same script), so a slow or absent database (the embedded one is lent to one
 *   writer at a time) never holds up fleet-alerts; its backlog waits in Redis meanwhile.
 *
 * Both are idempotent by event id for their readers (the table by its unique key; readers of the
 * topic by event_id), so sending a queue again after a crash is harmless.
 */
import type { Producer } from 'kafkajs';
import type pg from 'pg';
import type { Logger } from '@greenlane/common';
import { insertAlerts } from './db.js';
import type { Metrics } from './metrics.js';
import type { AlertStore } from './store.js';
import type { AlertEvent } from './types.js';

export interface Sink {
  publish(events: AlertEvent[]): Promise<void>;
}

export function createSink(opts: { producer: Producer; topic: string }): Sink {
  return {
    async publish(events) {
      if (events.length === 0) return;
      await opts.producer.send({ topic: opts.topic, acks: -1, messages: events.map((e) => ({ key: e.car_id, value: JSON.stringify(e) })) });
    },
  };
}

export interface DbWriter {
  /** Writes what is queued now (tests, shutdown); resolves with the rows inserted. */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

/** Drains `outbox:db` into fleet_alerts, up to 1000 events per statement, every `intervalMs` (and at once after a full batch). */
export function startDbWriter(opts: {
  store: AlertStore;
  withDb: <T>(fn: (c: pg.ClientBase) => Promise<T>) => Promise<T>;
  metrics: Metrics;
  log: Logger;
  intervalMs: number;
}): DbWriter {
  let stopped = false;
  let running: Promise<number> | undefined;
  let failures = 0;
  const drain = (): Promise<number> => {
    running ??= (async () => {
      let inserted = 0;
      try {
        for (;;) {
          const queued = await opts.store.read(opts.store.keys.dbOutbox, 1000);
          if (queued.raw.length === 0) break;
          const n = await opts.withDb((client) => insertAlerts(client, queued.events));
          await opts.store.confirm(queued);
          inserted += n;
          opts.metrics.rowsInserted.inc(n);
          if (queued.raw.length < 1000 || stopped) break;
        }
        if (failures > 0) opts.log.info('fleet_alerts written again');
        failures = 0;
      } finally {
        running = undefined;
      }
      return inserted;
    })();
    return running;
  };
  const timer = setInterval(() => {
    if (running || stopped) return;
    drain().catch((error: Error) => {
      opts.metrics.dbFailures.inc();
      // One line per outage, not one per attempt; the queue keeps the rows meanwhile.
      if (failures++ === 0) opts.log.warn({ err: error.message }, 'fleet_alerts not written; the events wait in Redis and are retried');
    });
  }, opts.intervalMs);
  timer.unref();
  return {
    drain,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
