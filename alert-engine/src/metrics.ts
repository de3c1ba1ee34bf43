import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one alert engine; /metrics serves `registry`. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'alert_engine_' });
  return {
    registry,
    eventsConsumed: new Counter({ name: 'alert_events_consumed_total', help: 'fleet-events consumed and committed, by event type (other = types the engine ignores)', labelNames: ['type'], registers: [registry] }),
    eventsSkipped: new Counter({ name: 'alert_events_skipped_total', help: 'Events that changed nothing: late (marked late), stale (older than the newest applied), duplicate (same timestamp or event id), replayed (offset already applied), malformed', labelNames: ['reason'], registers: [registry] }),
    transitions: new Counter({ name: 'alert_transitions_total', help: 'Alert events sent, by rule and transition (raised, refreshed, cleared, acknowledged)', labelNames: ['rule', 'transition'], registers: [registry] }),
    rowsInserted: new Counter({ name: 'alert_rows_inserted_total', help: 'fleet_alerts rows inserted (resends excluded)', registers: [registry] }),
    dbFailures: new Counter({ name: 'alert_db_write_failures_total', help: 'Attempts to write fleet_alerts that failed (the events wait in Redis and are retried)', registers: [registry] }),
    outboxResent: new Counter({ name: 'alert_outbox_resent_total', help: 'Alert events sent again from an outbox left by an interrupted batch', registers: [registry] }),
    staleBatches: new Counter({ name: 'alert_stale_batches_total', help: 'Batches dropped because another consumer had moved the partition on (a rebalance)', registers: [registry] }),
    pauses: new Counter({ name: 'alert_partition_pauses_total', help: 'Batches put back because Redis, Kafka or the database failed', registers: [registry] }),
    batchSeconds: new Histogram({ name: 'alert_batch_duration_seconds', help: 'One batch: state read, rules, state write, alerts sent, commit', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
    consumerLag: new Gauge({ name: 'alert_consumer_lag', help: 'Messages not yet committed up to the high watermark, per partition', labelNames: ['topic', 'partition'], registers: [registry] }),
    apiRefused: new Counter({ name: 'alert_api_refused_total', help: 'API requests refused, by reason (token_missing, token_wrong, token_expired, token_signature, token_claims, vehicle_token, insufficient_scope, rate_limited, not_found, method, bad_id, bad_parameter, bad_json, bad_body, too_large, unknown_alert, unavailable)', labelNames: ['reason'], registers: [registry] }),
    rateLimited: new Counter({ name: 'alert_engine_http_rate_limited_total', help: 'API requests refused with 429 because their operator identity was over OPERATOR_RATE / OPERATOR_BURST, by route', labelNames: ['route'], registers: [registry] }),
    apiRequests: new Histogram({ name: 'alert_api_request_duration_seconds', help: 'API requests by route and status', labelNames: ['route', 'status'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
