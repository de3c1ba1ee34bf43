/**
 * The storage thread: everything a CarStatus costs after validation, away from the thread that
 * serves the gRPC streams. The batches arriving in one event-loop turn here go to Redis as one
 * pipeline and to Kafka through the batching producer, and are reported stored, in one message,
 * once both have accepted them. Batches are handled in arrival order, so a car's events reach
 * Kafka in the order it sent them.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { connectRedis, createKafka, createLogger } from '@greenlane/common';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { serializeTelemetry } from './event.js';
import { KafkaEmitter } from './kafka-emitter.js';
import { writeFleetIndex } from './redis-index.js';
import type { FromStorage, StorageFailure, StorageWorkerConfig, ToStorage } from './storage-protocol.js';

if (parentPort === null) throw new Error('storage-worker must run as a worker thread');
const port = parentPort;
const cfg = workerData as StorageWorkerConfig;
const post = (message: FromStorage) => port.postMessage(message);
const log = createLogger('ingestion', { LOG_LEVEL: cfg.logLevel }).child({ thread: 'storage' });

let producerBatches: number[] = [];
let kafkaSendSeconds: number[] = [];
let redisWriteSeconds: number[] = [];
let kafkaSendErrors = 0;

async function open() {
  const redis = await connectRedis(cfg.redisUrl, log.child({ component: 'redis' }));
  const emitter = new KafkaEmitter({
    kafka: createKafka({ brokers: cfg.kafkaBrokers, clientId: 'greenlane-ingestion', log }),
    topic: cfg.topic,
    lingerMs: cfg.lingerMs,
    batchMax: cfg.batchMax,
    compression: cfg.compression,
    events: {
      batchSent: (messages, seconds) => {
        producerBatches.push(messages);
        kafkaSendSeconds.push(seconds);
      },
      sendFailed: () => kafkaSendErrors++,
    },
    log: log.child({ component: 'kafka' }),
  });
  await emitter.start();
  return { redis, emitter };
}

let storage: Awaited<ReturnType<typeof open>>;
try {
  storage = await open();
} catch (error) {
  post({ type: 'start-failed', error: (error as Error).message });
  throw error;
}
const { redis, emitter } = storage;

/** Reports go out once per turn, however many batches settled in it. */
let stored: number[] = [];
function reportStored(ids: number[]): void {
  if (stored.length === 0) setImmediate(postStored);
  for (const id of ids) stored.push(id);
}

function postStored(): void {
  if (stored.length > 0) post({ type: 'stored', ids: stored });
  stored = [];
}

function settle(ids: number[], work: Array<Promise<void>>, failures: StorageFailure[]): void {
  Promise.all(work.map((p, i) => p.catch((error: unknown) => Promise.reject({ failure: failures[i]!, error }))))
    .then(
      () => reportStored(ids),
      ({ failure, error }: { failure: StorageFailure; error: unknown }) =>
        post({ type: 'failed', ids, failure, error: error instanceof Error ? error.message : String(error) }),
    );
}

/** The store batches of this turn, written together. */
let turn: { ids: number[]; statuses: CarStatus[] } | undefined;
function store(id: number, statuses: CarStatus[]): void {
  if (turn === undefined) {
    turn = { ids: [], statuses: [] };
    setImmediate(writeTurn);
  }
  turn.ids.push(id);
  for (const status of statuses) turn.statuses.push(status);
}

function writeTurn(): void {
  const { ids, statuses } = turn!;
  turn = undefined;
  const events = statuses.map((s) => ({ key: s.carId, value: serializeTelemetry(s).value }));
  const redisStartedAt = performance.now();
  const indexed = writeFleetIndex(redis, statuses).then(() => void redisWriteSeconds.push((performance.now() - redisStartedAt) / 1000));
  settle(ids, [indexed, emitter.sendAll(events)], ['redis_write', 'kafka_send']);
}

function report(stalled: boolean): void {
  post({ type: 'report', stalled, producerBatches, kafkaSendSeconds, redisWriteSeconds, kafkaSendErrors });
  producerBatches = [];
  kafkaSendSeconds = [];
  redisWriteSeconds = [];
  kafkaSendErrors = 0;
}

const reporter = setInterval(() => report(emitter.stalled), 250);

async function close(timeoutMs: number): Promise<void> {
  clearInterval(reporter);
  if (turn !== undefined) writeTurn();
  await emitter.close(timeoutMs).catch((error: unknown) => log.warn({ err: error }, 'kafka producer did not close cleanly'));
  await redis.quit().catch(() => undefined);
  postStored();
  report(false);
  post({ type: 'closed' });
  port.close();
}

port.on('message', (message: ToStorage) => {
  switch (message.type) {
    case 'store':
      return store(message.id, message.statuses);
    case 'publish':
      // After the telemetry that came before it, so a car's events stay in order.
      if (turn !== undefined) writeTurn();
      return settle([message.id], [emitter.sendAll(message.messages)], ['kafka_send']);
    case 'close':
      return void close(message.timeoutMs);
  }
});
post({ type: 'ready' });
