/**
 * The storage thread: everything a CarStatus costs after validation, away from the thread that
 * serves the gRPC streams. The batches arriving in one event-loop turn here go, as a straight line,
 * to Redis (one script: the live index, which also says which messages are late) and then to Kafka
 * through the batching producer (each event marked late or not), and are reported stored, in one
 * message, once both have accepted them. Batches are handled in arrival order (Redis answers in
 * order), so a car's events reach Kafka in the order it sent them.
 *
 * A message one store refuses for what it is fails alone: Redis refusing a car means its events
 * are not emitted either; Kafka refusing one event leaves the others of its request stored.
 */
// First, before anything loads kafkajs (see the module).
import { groupingProblem } from './kafka-grouping-preload.js';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { connectRedis, createKafka, createLogger } from '@greenlane/common';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { serializeTelemetry } from './event.js';
import { unpackStatuses } from './status-batch.js';
import { threadCpuSeconds } from './thread-cpu.js';
import { KafkaEmitter } from './kafka-emitter.js';
import { installFastKafkaCodec } from './kafka-codec-install.js';
import { writeFleetIndex, type IndexOutcome } from './redis-index.js';
import type { Exception, FromStorage, KeyedValue, StorageFailure, StorageWorkerConfig, ToStorage } from './storage-protocol.js';

if (parentPort === null) throw new Error('storage-worker must run as a worker thread');
const port = parentPort;
const cfg = workerData as StorageWorkerConfig;
const post = (message: FromStorage) => port.postMessage(message);
const log = createLogger('ingestion', { LOG_LEVEL: cfg.logLevel }).child({ thread: 'storage' });

// Before the first produce, which is when kafkajs loads its encoding modules.
const keptModules = [groupingProblem, ...(await installFastKafkaCodec())].filter((problem) => problem !== undefined);
for (const problem of keptModules) log.warn({ reason: problem }, 'kafkajs module kept');

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
let exceptions: Exception[] = [];
function reportStored(ids: number[], batchExceptions: Exception[]): void {
  if (stored.length === 0) setImmediate(postStored);
  for (const id of ids) stored.push(id);
  for (const e of batchExceptions) exceptions.push(e);
}

function postStored(): void {
  if (stored.length > 0) post({ type: 'stored', ids: stored, exceptions });
  stored = [];
  exceptions = [];
}

function reportFailed(ids: number[], failure: StorageFailure, error: unknown): void {
  post({ type: 'failed', ids, failure, error: error instanceof Error ? error.message : String(error) });
}

/** The store batches of this turn, written together: each batch's id and how many statuses it has. */
let turn: { ids: number[]; counts: number[]; statuses: CarStatus[] } | undefined;
function store(id: number, statuses: CarStatus[]): void {
  if (turn === undefined) {
    turn = { ids: [], counts: [], statuses: [] };
    setImmediate(writeTurn);
  }
  turn.ids.push(id);
  turn.counts.push(statuses.length);
  for (const status of statuses) turn.statuses.push(status);
}

/** The index write of the last turn; close waits for it, so its events reach the emitter before it closes. */
let lastIndexed: Promise<void> = Promise.resolve();

/** Redis, then Kafka, then the report: what each message became, by batch. */
function writeTurn(): void {
  const { ids, counts, statuses } = turn!;
  turn = undefined;
  const redisStartedAt = performance.now();
  // Redis answers in order: the last turn's index write settles (and hands its events to the
  // emitter) after every earlier one.
  lastIndexed = writeFleetIndex(redis, statuses).then(
    (index) => {
      redisWriteSeconds.push((performance.now() - redisStartedAt) / 1000);
      const events: KeyedValue[] = [];
      const statusOf: number[] = [];
      statuses.forEach((s, i) => {
        if (index.refused.has(i)) return;
        events.push({ key: s.carId, value: serializeTelemetry(s, index.late[i] === 1).value });
        statusOf.push(i);
      });
      emitter.sendAll(events).then(
        (kafkaRefused) => reportStored(ids, exceptionsOf(ids, counts, index, kafkaRefused, statusOf)),
        (error: unknown) => reportFailed(ids, 'kafka_send', error),
      );
    },
    (error: unknown) => reportFailed(ids, 'redis_write', error),
  );
}

/** The messages of the turn that were late or refused, as (batch id, index in the batch). */
function exceptionsOf(ids: number[], counts: number[], index: IndexOutcome, kafkaRefused: ReadonlyMap<number, string>, statusOf: number[]): Exception[] {
  const refused = new Map<number, Exception['refused']>();
  for (const [i, reason] of index.refused) refused.set(i, { store: 'redis', reason });
  for (const [e, reason] of kafkaRefused) refused.set(statusOf[e]!, { store: 'kafka', reason });
  const out: Exception[] = [];
  let i = 0;
  ids.forEach((id, b) => {
    for (let k = 0; k < counts[b]!; k++, i++) {
      const why = refused.get(i);
      if (why !== undefined) out.push({ id, index: k, late: false, refused: why });
      else if (index.late[i] === 1) out.push({ id, index: k, late: true });
    }
  });
  return out;
}

function report(stalled: boolean): void {
  post({ type: 'report', stalled, producerBatches, kafkaSendSeconds, redisWriteSeconds, kafkaSendErrors, cpuSeconds: threadCpuSeconds() });
  producerBatches = [];
  kafkaSendSeconds = [];
  redisWriteSeconds = [];
  kafkaSendErrors = 0;
}

const reporter = setInterval(() => report(emitter.stalled), 250);

async function close(timeoutMs: number): Promise<void> {
  clearInterval(reporter);
  if (turn !== undefined) writeTurn();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([lastIndexed, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
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
      return store(message.id, unpackStatuses(message.statuses));
    case 'publish': {
      // The desk publishes a car's booking events after its telemetry is stored, so they follow it.
      const { id, messages } = message;
      return void emitter.sendAll(messages).then(
        (refused) => {
          for (const [k, reason] of refused) log.error({ key: messages[k]!.key, err: reason }, 'kafka refused an event of the bookings desk or of presence; it is not on the topic');
          reportStored([id], [...refused].map(([k, reason]) => ({ id, index: k, late: false, refused: { store: 'kafka', reason } })));
        },
        (error: unknown) => reportFailed([id], 'kafka_send', error),
      );
    }
    case 'close':
      return void close(message.timeoutMs);
  }
});
post({ type: 'ready' });
