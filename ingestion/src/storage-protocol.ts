/** Messages between the stream handler's thread and the storage thread (storage-worker.ts). */
import type { PackedStatuses } from './status-batch.js';
import type { Compression } from './config.js';

export interface StorageWorkerConfig {
  redisUrl: string;
  kafkaBrokers: string[];
  topic: string;
  lingerMs: number;
  batchMax: number;
  compression: Compression;
  logLevel: string;
}

export interface KeyedValue {
  key: string;
  value: string;
}

export type ToStorage =
  /** CarStatus messages, validated: index them in Redis and emit their events to Kafka. */
  | { type: 'store'; id: number; statuses: PackedStatuses }
  /** Ready-made events (the bookings desk's): Kafka only. */
  | { type: 'publish'; id: number; messages: KeyedValue[] }
  /** Flush what is queued (at most timeoutMs), disconnect, exit. */
  | { type: 'close'; timeoutMs: number };

export type StorageFailure = 'redis_write' | 'kafka_send';

/** The store that refused one message (and only it) for what it is. */
export type RefusingStore = 'redis' | 'kafka';

/**
 * A message of a stored batch whose outcome is not plainly "stored": its car had already reported
 * a newer state (late), or one store refused it. `index` is its position in its batch.
 */
export interface Exception {
  id: number;
  index: number;
  late: boolean;
  refused?: { store: RefusingStore; reason: string };
}

export type FromStorage =
  | { type: 'ready' }
  | { type: 'start-failed'; error: string }
  /** These batches are durable, but for the refused messages of `exceptions`. */
  | { type: 'stored'; ids: number[]; exceptions: Exception[] }
  /** These batches failed; `failure` says where. */
  | { type: 'failed'; ids: number[]; failure: StorageFailure; error: string }
  /**
   * Every 250 ms: Kafka's state and what happened since the last report, for the metrics: messages
   * per produce request, how long each produce request and each Redis pipeline took (seconds), and
   * the storage thread's CPU seconds so far.
   */
  | { type: 'report'; stalled: boolean; producerBatches: number[]; kafkaSendSeconds: number[]; redisWriteSeconds: number[]; kafkaSendErrors: number; cpuSeconds: number | undefined }
  | { type: 'closed' };
