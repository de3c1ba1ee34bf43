import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of the live map service; /metrics serves `registry`. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'liveops_web_' });
  return {
    registry,
    eventsConsumed: new Counter({ name: 'liveops_web_events_total', help: 'Events read from the topics', labelNames: ['outcome'], registers: [registry] }),
    cars: new Gauge({ name: 'liveops_web_cars', help: 'Cars in memory', registers: [registry] }),
    alerts: new Gauge({ name: 'liveops_web_alerts', help: 'Cars with an active alert', registers: [registry] }),
    clients: new Gauge({ name: 'liveops_web_browsers', help: 'WebSocket connections (browsers)', registers: [registry] }),
    framesSent: new Counter({ name: 'liveops_web_frames_sent_total', help: 'Binary position frames sent, by kind', labelNames: ['kind'], registers: [registry] }),
    bytesSent: new Counter({ name: 'liveops_web_ws_bytes_sent_total', help: 'Bytes handed to WebSockets (frames and JSON messages)', registers: [registry] }),
    skippedTicks: new Counter({ name: 'liveops_web_skipped_ticks_total', help: 'Ticks a browser was skipped because its socket still held more than LIVEOPS_WEB_MAX_BUFFERED_BYTES', registers: [registry] }),
    maxBuffered: new Gauge({ name: 'liveops_web_max_buffered_bytes', help: 'Largest unsent amount of any browser at the last tick', registers: [registry] }),
    refused: new Counter({ name: 'liveops_web_auth_refused_total', help: 'Requests and WebSockets refused by the operator check, by reason (token_missing, token_wrong, token_expired, token_signature, token_claims, vehicle_token, insufficient_scope, rate_limited, …)', labelNames: ['reason'], registers: [registry] }),
    rateLimited: new Counter({ name: 'liveops_web_http_rate_limited_total', help: 'Requests and WebSocket upgrades refused with 429 because their operator identity was over OPERATOR_RATE / OPERATOR_BURST, by route (api, ws, signin, commands)', labelNames: ['route'], registers: [registry] }),
    tickSeconds: new Histogram({
      name: 'liveops_web_tick_duration_seconds',
      help: 'One tick: cut the frames and hand them to every browser',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
