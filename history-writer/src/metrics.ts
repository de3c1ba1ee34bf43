import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one history writer; /metrics serves `registry`. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'history_writer_' });
  return {
    registry,
    eventsConsumed: new Counter({ name: 'history_events_consumed_total', help: 'Events consumed and committed', registers: [registry] }),
    rowsInserted: new Counter({ name: 'history_rows_inserted_total', help: 'car_telemetry rows committed (replays and duplicates excluded)', registers: [registry] }),
    rowsDuplicate: new Counter({ name: 'history_rows_duplicate_total', help: 'Telemetry events already stored (replays, duplicates)', registers: [registry] }),
    rejected: new Counter({ name: 'history_events_rejected_total', help: 'Telemetry events that cannot be a row (malformed, refused by the database): skipped', registers: [registry] }),
    batchSeconds: new Histogram({
      name: 'history_batch_duration_seconds',
      help: 'One batch: decode, write, commit',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    consumerLag: new Gauge({ name: 'history_consumer_lag', help: 'Messages not yet committed up to the high watermark, per partition; set when a batch arrives and after its commit', labelNames: ['topic', 'partition'], registers: [registry] }),
    pauses: new Counter({ name: 'history_partition_pauses_total', help: 'Batches put back because the database failed', registers: [registry] }),
    jobRuns: new Counter({ name: 'history_jobs_run_total', help: 'TimescaleDB jobs (compression, retention, aggregate refresh) run by the writer itself, on a server without a job scheduler', labelNames: ['outcome'], registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
