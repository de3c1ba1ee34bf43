/**
 * The stream handler's side of the storage thread. CarStatus messages validated in one event-loop
 * turn, from every stream, travel as one batch; each caller gets the batch's promise, settled when
 * the storage thread reports the batch durable in Redis and Kafka (or failed).
 *
 * Why a thread: serializing, hashing and encoding events for Kafka and the Redis pipeline cost
 * about as much CPU as the gRPC transport itself; on one thread they capped a process at about one
 * core. Should the thread die, what it held fails (the cars are told and resend) and a new one starts.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '@greenlane/common';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { deferred, type Deferred } from './deferred.js';
import { StatusPacker } from './status-batch.js';
import type { IngestionMetrics } from './metrics.js';
import type { Exception, FromStorage, KeyedValue, RefusingStore, StorageWorkerConfig, ToStorage } from './storage-protocol.js';

const WORKER_URL = new URL('./storage-worker.js', import.meta.url);

export class StorageError extends Error {}

/** What became of one stored CarStatus. */
export interface StoreOutcome {
  /** Its car had already reported a newer state: the live index kept that one. */
  late: boolean;
  /** One store refused this message (for what it is): it is not stored, the rest of its batch is. */
  refused?: { store: RefusingStore; reason: string };
}

/** The batch being filled this event-loop turn. */
interface OpenBatch {
  id: number;
  statuses: StatusPacker;
  waiters: StoreWaiter[];
  done: Deferred<Outcomes>;
}

/** Who waits for one stored CarStatus (the stream handler's record of the message). */
export interface StoreWaiter {
  storeDone(outcome: StoreOutcome): void;
  storeFailed(error: unknown): void;
}

const STORED: StoreOutcome = { late: false };
/** Index in a batch → outcome, for the messages that were not plainly stored. */
type Outcomes = ReadonlyMap<number, StoreOutcome>;
const ALL_STORED: Outcomes = new Map();

export class Storage {
  private worker!: Worker;
  private ready!: Promise<void>;
  private batch: OpenBatch | undefined;
  private readonly waiting = new Map<number, Deferred<Outcomes>>();
  /** Ids of the publish batches (events of the desk and of presence) among those waiting. */
  private readonly published = new Set<number>();
  private nextId = 1;
  private closing = false;
  /** The first thread became ready: from then on a thread that dies is replaced. */
  private started = false;
  private closed: (() => void) | undefined;
  /** CPU seconds of storage threads that exited, so the thread CPU metric never goes back. */
  private cpuOfDeadThreads = 0;
  /** Kafka has had a produce request pending for over 2 s (as the storage thread last reported). */
  stalled = false;

  private constructor(
    private readonly cfg: StorageWorkerConfig,
    private readonly metrics: IngestionMetrics,
    private readonly log: Logger,
  ) {}

  /** Starts the storage thread; rejects when it cannot reach Redis or Kafka. */
  static async start(cfg: StorageWorkerConfig, metrics: IngestionMetrics, log: Logger): Promise<Storage> {
    const storage = new Storage(cfg, metrics, log);
    storage.spawn();
    await storage.ready;
    return storage;
  }

  /**
   * `waiter.storeDone` when Redis and Kafka both hold this CarStatus, or one of them refused it
   * alone; `waiter.storeFailed` when its batch failed as a whole (a store unavailable): the car
   * resends. One promise per batch, not per message: the waiters are called in a loop.
   */
  store(status: CarStatus, waiter: StoreWaiter): void {
    if (this.closing) return queueMicrotask(() => waiter.storeFailed(new StorageError('storage closed')));
    let batch = this.batch;
    if (batch === undefined) {
      const open: OpenBatch = { id: this.nextId++, statuses: new StatusPacker(), waiters: [], done: deferred<Outcomes>() };
      batch = this.batch = open;
      open.done.promise.then(
        (outcomes) => {
          const { waiters } = open;
          for (let i = 0; i < waiters.length; i++) waiters[i]!.storeDone(outcomes.size === 0 ? STORED : (outcomes.get(i) ?? STORED));
        },
        (error: unknown) => {
          for (const waiter of open.waiters) waiter.storeFailed(error);
        },
      );
      setImmediate(() => this.flush());
    }
    batch.statuses.push(status);
    batch.waiters.push(waiter);
  }

  /**
   * Kafka only, in order with the telemetry (the bookings desk's events). Resolves with what the
   * broker refused (it never will accept those; they are logged).
   */
  publish(messages: KeyedValue[]): Promise<Outcomes> {
    if (this.closing) return Promise.reject(new StorageError('storage closed'));
    this.flush();
    const id = this.nextId++;
    const done = deferred<Outcomes>();
    this.published.add(id);
    this.send(id, done, { type: 'publish', id, messages });
    return done.promise;
  }

  /** Sends what is queued, waits at most timeoutMs for Kafka, stops the thread. */
  async close(timeoutMs: number): Promise<void> {
    this.flush();
    this.closing = true;
    await this.ready.catch(() => undefined);
    const exited = new Promise<void>((resolve) => (this.closed = resolve));
    this.worker.postMessage({ type: 'close', timeoutMs } satisfies ToStorage);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs + 3000)))]);
    clearTimeout(timer);
    await this.worker.terminate();
    this.failAll(new StorageError('storage closed'));
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (batch === undefined) return;
    const statuses = batch.statuses.pack();
    this.send(batch.id, batch.done, { type: 'store', id: batch.id, statuses }, [statuses.numbers.buffer as ArrayBuffer]);
  }

  private send(id: number, done: Deferred<Outcomes>, message: ToStorage, transfer: ArrayBuffer[] = []): void {
    this.waiting.set(id, done);
    const worker = this.worker;
    // While a new thread starts, batches wait for it, in order.
    this.ready.then(
      () => (worker === this.worker ? worker.postMessage(message, transfer) : this.settle(id, new StorageError('storage thread restarted'))),
      (error: unknown) => this.settle(id, error),
    );
  }

  private settle(id: number, error?: unknown, outcomes: Outcomes = ALL_STORED): void {
    const done = this.waiting.get(id);
    if (done === undefined) return;
    this.waiting.delete(id);
    this.published.delete(id);
    if (error === undefined) done.resolve(outcomes);
    else done.reject(error);
  }

  /** Settles stored batches, each with the outcomes of its messages that were late or refused. */
  private settleStored(ids: number[], exceptions: Exception[]): void {
    const byBatch = new Map<number, Map<number, StoreOutcome>>();
    for (const { id, index, late, refused } of exceptions) {
      let outcomes = byBatch.get(id);
      if (outcomes === undefined) byBatch.set(id, (outcomes = new Map()));
      outcomes.set(index, refused === undefined ? { late } : { late, refused });
      // The refused-messages count is of CarStatus; a refused desk or presence event is logged there.
      if (refused !== undefined && !this.published.has(id)) this.metrics.refused.inc({ store: refused.store });
    }
    for (const id of ids) this.settle(id, undefined, byBatch.get(id));
  }

  private failAll(error: Error): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, error);
  }

  private spawn(): void {
    const worker = new Worker(WORKER_URL, { workerData: this.cfg });
    this.worker = worker;
    let wasReady = false;
    let lastCpuSeconds = 0;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromStorage) => {
        switch (message.type) {
          case 'ready':
            return resolve();
          case 'start-failed':
            return reject(new StorageError(`storage could not start: ${message.error}`));
          case 'stored':
            return this.settleStored(message.ids, message.exceptions);
          case 'failed': {
            // A failed Kafka send is counted by the emitter, attempt by attempt ('report').
            if (message.failure === 'redis_write') this.metrics.error('redis_write');
            const error = new StorageError(`${message.failure}: ${message.error}`);
            for (const id of message.ids) this.settle(id, error);
            return;
          }
          case 'report':
            this.stalled = message.stalled;
            for (const n of message.producerBatches) this.metrics.producerBatch.observe(n);
            for (const s of message.kafkaSendSeconds) this.metrics.storageWrite.observe({ target: 'kafka' }, s);
            for (const s of message.redisWriteSeconds) this.metrics.storageWrite.observe({ target: 'redis' }, s);
            for (let i = 0; i < message.kafkaSendErrors; i++) this.metrics.error('kafka_send');
            // A replaced thread starts from 0: what the dead one used is added, so the figure only grows.
            if (message.cpuSeconds !== undefined) this.metrics.threadCpu.set({ thread: 'storage' }, this.cpuOfDeadThreads + message.cpuSeconds);
            lastCpuSeconds = message.cpuSeconds ?? lastCpuSeconds;
            return;
          case 'closed':
            return this.closed?.();
        }
      });
      worker.on('error', (error) => {
        reject(error);
        this.log.error({ err: error }, 'storage thread failed');
      });
      worker.on('exit', (code) => {
        this.cpuOfDeadThreads += lastCpuSeconds;
        reject(new StorageError(`storage thread exited (${code}) before it was ready`));
        // The first start failing is start-up's failure (startIngestion rejects): nothing to restart.
        if (worker !== this.worker || this.closing || !this.started) return;
        // What the thread held may or may not be stored: its callers are told to resend.
        this.metrics.error('storage_thread');
        this.log.error({ code, unsettled: this.waiting.size }, 'storage thread exited; failing what it held and starting a new one');
        this.failAll(new StorageError('storage thread exited'));
        // A thread that dies before it is ready (Redis or Kafka away) is retried once a second.
        setTimeout(() => this.closing || this.spawn(), wasReady ? 0 : 1000);
      });
    });
    this.ready.then(() => {
      wasReady = true;
      this.started = true;
    }, () => undefined);
  }

  /** For the fault tests: kills the storage thread as a crash would. */
  crashForTest(): Promise<number> {
    return this.worker.terminate();
  }
}
