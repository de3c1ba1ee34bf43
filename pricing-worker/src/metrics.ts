import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one worker process; /metrics serves `registry`. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pricing_worker_' });
  const recentRows: Array<[number, number]> = [];
  const rowsPerSecond = new Gauge({
    name: 'pricing_rows_per_second',
    help: 'Rows committed per second over the last 10 s',
    registers: [registry],
    collect() {
      const cutoff = Date.now() - 10_000;
      while (recentRows.length > 0 && recentRows[0]![0] < cutoff) recentRows.shift();
      this.set(recentRows.reduce((n, [, rows]) => n + rows, 0) / 10);
    },
  });
  const metrics = {
    registry,
    eventsConsumed: new Counter({ name: 'pricing_events_consumed_total', help: 'Events consumed and committed', registers: [registry] }),
    rowsInserted: new Counter({ name: 'pricing_rows_inserted_total', help: 'charging_sessions rows committed (replays excluded)', registers: [registry] }),
    rowsSkipped: new Counter({ name: 'pricing_rows_duplicate_total', help: 'Charging samples already stored (replays, duplicates)', registers: [registry] }),
    rowsPerSecond,
    batchSeconds: new Histogram({
      name: 'pricing_batch_duration_seconds',
      help: 'One batch: decode, price, write, commit',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    consumerLag: new Gauge({ name: 'pricing_consumer_lag', help: 'Messages not yet committed up to the high watermark, per partition; set when a batch arrives (also one that then fails) and after its commit', labelNames: ['topic', 'partition'], registers: [registry] }),
    deadLetters: new Counter({ name: 'pricing_dead_letters_total', help: 'Messages sent to the dead-letter topic', registers: [registry] }),
    priceCacheHits: new Counter({ name: 'pricing_price_cache_hits_total', help: 'Price lookups answered by the period cache', registers: [registry] }),
    priceCacheMisses: new Counter({ name: 'pricing_price_cache_misses_total', help: 'Price lookups that fetched from the grid', registers: [registry] }),
    pauses: new Counter({ name: 'pricing_partition_pauses_total', help: 'Batches put back because the grid, database or DLQ failed', labelNames: ['cause'], registers: [registry] }),
    recomputedSessions: new Counter({ name: 'pricing_recomputed_sessions_total', help: 'Stays recomputed after a late sample', registers: [registry] }),
    noteRows(rows: number) {
      recentRows.push([Date.now(), rows]);
    },
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
