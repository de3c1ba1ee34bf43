/**
 * Produces events to the fleet topic, batching across every stream. One produce request is on the
 * wire at a time (what keeps each car's events in order with an idempotent producer); whatever
 * collects meanwhile goes out in the next request the moment the previous one is acknowledged, so
 * batches grow with load by themselves. A batch opened while nothing is on the wire is sealed at the
 * end of the event-loop turn (or after `lingerMs`, when set), or at `batchMax` messages: waiting
 * longer would only add latency (measured in bench/kafka-latency.mjs: a 2 ms linger cost 1 ms at
 * p50 and 3 ms at p99 at 5,000 events/s).
 *
 * The producer is idempotent with acks from all in-sync replicas and retries without limit, so a
 * broker outage only delays a batch: its promise resolves when Kafka has acknowledged it, which is
 * what the acknowledgement to the car waits for. Memory stays bounded because the stream handler
 * bounds the messages in flight.
 *
 * A message the broker would refuse for what it is would be refused on every retry, and with it
 * every other car's messages of its request. So requests are sized to the topic's
 * max.message.bytes (read at start), and an event that alone exceeds it is answered refused without
 * being sent. Should the broker refuse a request anyway (the limit lowered while running, an invalid
 * record), the producer is renewed and the request sent again in halves, down to the refused
 * message: kafkajs rolls back the idempotence sequence of every partition of a failed request, also
 * of those the broker wrote, so the old producer's next send to them would be out of order (or,
 * worse, taken for a duplicate). Messages the broker had already written go again (same event
 * ids, which consumers drop).
 */
import { performance } from 'node:perf_hooks';
import kafkajs, { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import type { Logger } from '@greenlane/common';
import type { Compression } from './config.js';
import { deferred, type Deferred } from './deferred.js';
import { sendCompletely, trackPartitions } from '@greenlane/common/kafka-send';
import { FastDefaultPartitioner } from './kafka-partitioner.js';

/** Index of a message (in what was sent) → why the broker refused it. Usually empty. */
export type Refusals = ReadonlyMap<number, string>;
const NONE: Refusals = new Map();

interface Batch extends Deferred<Refusals> {
  messages: Message[];
  /** Estimated size of its records in a record batch. */
  bytes: number;
}

function newBatch(): Batch {
  return { messages: [], bytes: 0, ...deferred<Refusals>() };
}

/** A record batch's fixed header (v2), and the most a record adds to its key and value (varints, attributes). */
const BATCH_OVERHEAD = 61;
const RECORD_OVERHEAD = 40;
/** The broker's default max.message.bytes, when the topic's cannot be read. */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

function recordBytes(key: string, value: string): number {
  return RECORD_OVERHEAD + Buffer.byteLength(key) + Buffer.byteLength(value);
}

/** Broker errors about a message itself: sending it again can only fail again. */
const REFUSALS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP']);

function refusalOf(error: unknown): string | undefined {
  const e = error as { type?: string; message?: string; cause?: { type?: string; message?: string } };
  const cause = e.type !== undefined ? e : e.cause;
  if (cause?.type === undefined || !REFUSALS.has(cause.type)) return undefined;
  return `${cause.type}: ${cause.message ?? ''}`;
}

/** What the emitter reports, for the metrics (it runs in the storage thread, away from the registry). */
export interface EmitterEvents {
  /** Kafka acknowledged a produce request of `messages` messages after `seconds`. */
  batchSent(messages: number, seconds: number): void;
  sendFailed(): void;
}

export interface KafkaEmitterOptions {
  kafka: Kafka;
  topic: string;
  lingerMs: number;
  batchMax: number;
  compression: Compression;
  events: EmitterEvents;
  log: Logger;
}

/** The refusals of `refused` with index in [from, from + count), shifted by `to - from`. */
function pick(refused: Refusals, from: number, to: number, count: number): Refusals {
  const out = new Map<number, string>();
  for (const [i, reason] of refused) if (i >= from && i < from + count) out.set(i - from + to, reason);
  return out.size === 0 ? NONE : out;
}

export class KafkaEmitter {
  private producer: Producer;
  private open: Batch | undefined;
  private lingerTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private readonly sealed: Batch[] = [];
  private sending = false;
  private sendStartedAt = 0;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly compression: CompressionTypes;
  /** The topic's max.message.bytes: the most one partition's record batch may hold. */
  private maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;

  constructor(private readonly opts: KafkaEmitterOptions) {
    this.producer = this.newProducer();
    this.compression = opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  }

  /** Which partition each message went to: a send is complete only when each is in the answer (kafka-send.ts). */
  private readonly partitions = trackPartitions(FastDefaultPartitioner);

  private newProducer(): Producer {
    return this.opts.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // Murmur2 on the key, as the Java client: a car's events land where other clients expect.
      createPartitioner: this.partitions.createPartitioner,
      // Unlimited retries (what kafkajs wants for an idempotent producer), but short waits
      // between them, so the first batch after a broker comes back goes out within a second.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  async start(): Promise<void> {
    await this.producer.connect();
    await this.readLimit();
  }

  /** The topic's max.message.bytes (its own setting or the broker's default). */
  private async readLimit(): Promise<void> {
    const admin = this.opts.kafka.admin();
    try {
      await admin.connect();
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: this.opts.topic, configNames: ['max.message.bytes'] }],
      });
      const value = Number(resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
      if (Number.isInteger(value) && value > 0) this.maxMessageBytes = value;
    } catch (error) {
      this.opts.log.warn({ err: (error as Error).message, assumed: this.maxMessageBytes }, 'could not read the topic max.message.bytes');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** After a refused request: a producer with fresh sequences, and the topic's limit read again. */
  private async renewProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.newProducer();
    await old.disconnect().catch(() => undefined);
    // Like a broker outage: nothing goes out until a producer is connected again.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.producer.connect();
        break;
      } catch (error) {
        if (this.closed) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * attempt, 1000)));
      }
    }
    await this.readLimit();
  }

  /** Kafka is considered unavailable while one produce request has been pending for over 2 s. */
  get stalled(): boolean {
    return this.sending && Date.now() - this.sendStartedAt > 2000;
  }

  /** Queues a message of `bytes`; its batch resolves when Kafka has acknowledged the batch. */
  private add(key: string, value: string, bytes: number): { batch: Batch; at: number } {
    if (this.open !== undefined && BATCH_OVERHEAD + this.open.bytes + bytes > this.maxMessageBytes) this.seal();
    let batch = this.open;
    if (batch === undefined) {
      batch = this.open = newBatch();
      // No linger: what this turn adds goes out together, at its end.
      this.lingerTimer = this.opts.lingerMs === 0 ? setImmediate(() => this.seal()) : setTimeout(() => this.seal(), this.opts.lingerMs);
    }
    const at = batch.messages.push({ key, value }) - 1;
    batch.bytes += bytes;
    if (batch.messages.length >= this.opts.batchMax) this.seal();
    return { batch, at };
  }

  /**
   * Several messages, in order; resolves when Kafka has acknowledged all of them, with the ones it
   * refused (by index in `messages`), or rejects when the emitter closed first.
   */
  sendAll(messages: ReadonlyArray<{ key: string; value: string }>): Promise<Refusals> {
    if (this.closed) return Promise.reject(new Error('kafka emitter closed'));
    // Consecutive messages in one batch form a segment: `from` in messages, `at` in the batch.
    const segments: Array<{ batch: Batch; from: number; at: number; count: number }> = [];
    let segment: (typeof segments)[number] | undefined;
    let tooLarge: Map<number, string> | undefined;
    for (let i = 0; i < messages.length; i++) {
      const { key, value } = messages[i]!;
      const bytes = recordBytes(key, value);
      if (BATCH_OVERHEAD + bytes > this.maxMessageBytes) {
        (tooLarge ??= new Map()).set(i, `MESSAGE_TOO_LARGE: the event takes about ${BATCH_OVERHEAD + bytes} bytes, the topic at most ${this.maxMessageBytes} (max.message.bytes)`);
        segment = undefined;
        continue;
      }
      const { batch, at } = this.add(key, value, bytes);
      if (segment === undefined || batch !== segment.batch) segments.push((segment = { batch, from: i, at, count: 0 }));
      segment.count++;
    }
    return Promise.all(segments.map((s) => s.batch.promise)).then((all) => {
      if (tooLarge === undefined && all.every((refused) => refused.size === 0)) return NONE;
      const mine = new Map<number, string>(tooLarge);
      segments.forEach((s, k) => {
        for (const [i, reason] of pick(all[k]!, s.at, s.from, s.count)) mine.set(i, reason);
      });
      return mine;
    });
  }

  private seal(): void {
    if (this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer as NodeJS.Timeout);
      clearImmediate(this.lingerTimer as NodeJS.Immediate);
    }
    this.lingerTimer = undefined;
    const batch = this.open;
    this.open = undefined;
    if (batch === undefined) return;
    this.sealed.push(batch);
    if (!this.sending) void this.pump();
  }

  private async pump(): Promise<void> {
    this.sending = true;
    for (;;) {
      // What collected while a request was on the wire has waited a round trip already: it goes
      // now rather than after its linger.
      if (this.sealed.length === 0 && this.open !== undefined && this.open.messages.length > 0) this.seal();
      if (this.sealed.length === 0) break;
      // What was sealed while the previous request was on the wire goes out together, as far as
      // the topic's limit allows.
      let take = 1;
      let bytes = this.sealed[0]!.bytes;
      while (take < this.sealed.length && BATCH_OVERHEAD + bytes + this.sealed[take]!.bytes <= this.maxMessageBytes) bytes += this.sealed[take++]!.bytes;
      const batches = this.sealed.splice(0, take);
      const messages = batches.length === 1 ? batches[0]!.messages : batches.flatMap((b) => b.messages);
      this.sendStartedAt = Date.now();
      let attempt = 0;
      for (;;) {
        try {
          const refused = await this.sendIsolating(messages, 0, new Map());
          let from = 0;
          for (const b of batches) {
            b.resolve(refused.size === 0 ? NONE : pick(refused, from, 0, b.messages.length));
            from += b.messages.length;
          }
          if (attempt > 0) this.opts.log.info({ messages: messages.length, attempts: attempt + 1 }, 'kafka accepts events again');
          break;
        } catch (error) {
          attempt++;
          this.opts.events.sendFailed();
          if (this.closed) {
            for (const b of batches) b.reject(error);
            break;
          }
          if (attempt === 1 || attempt % 20 === 0) {
            this.opts.log.warn({ err: (error as Error).message, messages: messages.length, attempt }, 'kafka send failed; retrying');
          }
          await new Promise((resolve) => setTimeout(resolve, Math.min(100 * attempt, 1000)));
        }
      }
    }
    this.sending = false;
    for (const wake of this.idle.splice(0)) wake();
  }

  /**
   * Sends `messages` as one request; when the broker refuses a message of it, sends each half again
   * (in order, so a car's events stay in order), down to the refused ones. Adds to `refused`
   * (index in the original request → reason) and returns it; rejects on any other failure.
   */
  private async sendIsolating(messages: Message[], offset: number, refused: Map<number, string>): Promise<Map<number, string>> {
    try {
      const startedAt = performance.now();
      await sendCompletely(this.producer, { topic: this.opts.topic, messages, acks: -1, compression: this.compression, timeout: 10_000 }, this.partitions, (lost, partitions) =>
        this.opts.log.warn({ messages: lost, partitions }, 'kafka answered a request without writing the partitions of a broker that failed during it: sending their events again'),
      );
      this.opts.events.batchSent(messages.length, (performance.now() - startedAt) / 1000);
    } catch (error) {
      const refusal = refusalOf(error);
      if (refusal === undefined) throw error;
      await this.renewProducer();
      if (messages.length === 1) {
        this.opts.log.warn({ key: messages[0]!.key, err: refusal }, 'kafka refused an event; it alone is answered refused');
        refused.set(offset, refusal);
      } else {
        const half = messages.length >> 1;
        await this.sendIsolating(messages.slice(0, half), offset, refused);
        await this.sendIsolating(messages.slice(half), offset + half, refused);
      }
    }
    return refused;
  }

  /** Sends what is open now and resolves when nothing is left to send. */
  async flush(): Promise<void> {
    this.seal();
    if (!this.sending && this.sealed.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** Flushes (for at most timeoutMs: Kafka may be down), then disconnects. */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.closed = true;
    await this.producer.disconnect();
  }
}
