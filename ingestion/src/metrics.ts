/**
 * Prometheus metrics of one ingestion instance, in a registry of its own (several instances can
 * live in one test process).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HotHistogram } from './hot-histogram.js';
import { threadCpuSeconds } from './thread-cpu.js';

export type ErrorKind =
  | 'kafka_send'
  | 'redis_write'
  | 'storage_thread'
  | 'booking'
  | 'stream'
  | 'ack_timeout'
  | 'unauthenticated'
  | 'overloaded'
  | 'draining';

export interface IngestionMetrics {
  registry: Registry;
  activeStreams: Gauge;
  accepted: Counter;
  rejected: Counter;
  refused: Counter<'store'>;
  streamPauses: Counter<'reason'>;
  /** Commands this instance wrote to a car's stream, or skipped (and why). */
  commandsSent: Counter<'result'>;
  /** Cars' answers to commands, by what became of the command (or why the answer was ignored). */
  commandResults: Counter<'outcome'>;
  /** Presence changes this instance made (each change happens on one instance). */
  presenceChanges: Counter<'state' | 'reason'>;
  /** Calls refused before any handler ran, by why (missing, wrong, jwt_expired, jwt_scope, stream_rate, ...). */
  authRefused: Counter<'reason'>;
  /** CarStatus messages whose car_id is not the connection's identity, by the credential that named it. */
  identityMismatch: Counter<'credential'>;
  /** Messages and streams over a rate limit (limit=car: answered BOOKING_FAILED; stream: refused at open). */
  rateLimited: Counter<'limit'>;
  /** Streams ended because their credential expired. */
  credentialExpired: Counter;
  /** TLS certificate files reloaded while running. */
  tlsReloads: Counter;
  inFlight: Gauge;
  ackLatency: HotHistogram;
  producerBatch: Histogram;
  storageWrite: Histogram<'target'>;
  errors: Counter<'kind'>;
  /** Cumulative CPU seconds of each thread of the service (Linux). */
  threadCpu: Gauge<'thread'>;
  error(kind: ErrorKind): void;
  /** Where the in-flight gauge reads its value at scrape time. */
  inFlightSource: () => number;
}

export function createMetrics(defaultMetrics = true): IngestionMetrics {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'ingestion_' });
  const errors = new Counter({
    name: 'ingestion_errors_total',
    help: 'Errors by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const metrics: IngestionMetrics = {
    registry,
    activeStreams: new Gauge({ name: 'ingestion_active_streams', help: 'Open StreamTelemetry calls', registers: [registry] }),
    accepted: new Counter({
      name: 'ingestion_messages_accepted_total',
      help: 'CarStatus messages stored in Redis and Kafka and acknowledged',
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'ingestion_messages_rejected_total',
      help: 'CarStatus messages refused by validation (answered BOOKING_FAILED, nothing stored)',
      registers: [registry],
    }),
    refused: new Counter({
      name: 'ingestion_messages_refused_total',
      help: 'Valid CarStatus messages one store refused for what they are (answered BOOKING_FAILED; the rest of their batch stored)',
      labelNames: ['store'] as const,
      registers: [registry],
    }),
    commandsSent: new Counter({
      name: 'ingestion_commands_sent_total',
      help: 'Commands written to a car stream (result=written), or not: car_gone, skipped_final, skipped_expired, skipped_other_car, skipped_unknown',
      labelNames: ['result'],
      registers: [registry],
    }),
    presenceChanges: new Counter({
      name: 'ingestion_presence_changes_total',
      help: 'Cars this instance found online (first_seen, reconnected) or offline (timeout, stream_closed, instance_lost)',
      labelNames: ['state', 'reason'],
      registers: [registry],
    }),
    commandResults: new Counter({
      name: 'ingestion_command_results_total',
      help: "Cars' answers to commands: succeeded, failed, or ignored (unknown_command, other_car, final: a repeat), store_error",
      labelNames: ['outcome'],
      registers: [registry],
    }),
    streamPauses: new Counter({
      name: 'ingestion_stream_pauses_total',
      help: 'Times a stream stopped being read (flow control), by why: the car not reading its acks, the stream or process budget of unacknowledged messages, draining',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    authRefused: new Counter({
      name: 'ingestion_auth_refused_total',
      help: 'Calls refused before any handler ran, by reason: missing, wrong, api_token_disabled, jwt_* (malformed, signature, expired, not_yet_valid, claims, scope, ...), certificate_subject, stream_rate',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    identityMismatch: new Counter({
      name: 'ingestion_identity_mismatch_total',
      help: "CarStatus messages whose car_id is not the connection's identity (certificate CN or token sub): answered BOOKING_FAILED, never stored",
      labelNames: ['credential'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'ingestion_rate_limited_total',
      help: 'Over a rate limit: limit=car, a message answered BOOKING_FAILED "rate limited"; limit=stream, a new stream refused RESOURCE_EXHAUSTED',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    credentialExpired: new Counter({
      name: 'ingestion_streams_credential_expired_total',
      help: 'Streams ended UNAUTHENTICATED because their bearer token expired (the car reconnects with a new one)',
      registers: [registry],
    }),
    tlsReloads: new Counter({
      name: 'ingestion_tls_reloads_total',
      help: 'TLS certificate files reloaded while running (file change or SIGHUP)',
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'ingestion_in_flight_messages',
      help: 'Messages accepted from streams and not yet acknowledged',
      registers: [registry],
      collect() {
        this.set(metrics.inFlightSource());
      },
    }),
    ackLatency: new HotHistogram(
      'ingestion_ack_latency_seconds',
      'From receiving a CarStatus to writing its acknowledgement',
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      [registry],
    ),
    producerBatch: new Histogram({
      name: 'ingestion_producer_batch_messages',
      help: 'Messages per Kafka produce request',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
      registers: [registry],
    }),
    storageWrite: new Histogram({
      name: 'ingestion_storage_write_seconds',
      help: 'How long Redis (one pipeline per storage-thread turn) or Kafka (one produce request) took to accept a write',
      labelNames: ['target'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    threadCpu: new Gauge({
      name: 'ingestion_thread_cpu_seconds_total',
      help: 'CPU time of each of the service\'s threads (stream: gRPC streams and validation; storage: Redis and Kafka), from /proc/thread-self; the process total less these is GC and I/O helper threads',
      labelNames: ['thread'] as const,
      registers: [registry],
      collect() {
        const seconds = threadCpuSeconds();
        if (seconds !== undefined) this.set({ thread: 'stream' }, seconds);
      },
    }),
    errors,
    error(kind) {
      errors.inc({ kind });
    },
    inFlightSource: () => 0,
  };
  return metrics;
}
