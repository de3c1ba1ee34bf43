/**
 * Produces events to the fleet topic, batching across every stream. kafkajs has no linger, so this
 * adds one: messages collect in an open batch that is sealed after `lingerMs` or at `batchMax`
 * messages; one produce request is on the wire at a time (what keeps each car's events in order
 * with an idempotent producer), and whatever collected meanwhile goes out in the next request, so
 * batches grow by themselves under load while a lone message waits at most the linger.
 *
 * The producer is idempotent with acks from all in-sync replicas and retries without limit, so a
 * broker outage only delays a batch: its promise resolves when Kafka has acknowledged it, which is
 * what the acknowledgement to the car waits for. Memory stays bounded because the stream handler
 * bounds the messages in flight.
 */
import { performance } from 'node:perf_hooks';
import { CompressionTypes, Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import type { Logger } from '@greenlane/common';
import type { Compression } from './config.js';
import { deferred, type Deferred } from './deferred.js';

interface Batch extends Deferred {
  messages: Message[];
}

function newBatch(): Batch {
  return { messages: [], ...deferred() };
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

export class KafkaEmitter {
  private readonly producer: Producer;
  private open: Batch | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly sealed: Batch[] = [];
  private sending = false;
  private sendStartedAt = 0;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly compression: CompressionTypes;

  constructor(private readonly opts: KafkaEmitterOptions) {
    this.producer = opts.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // Murmur2 on the key, as the Java client: a car's events land where other clients expect.
      createPartitioner: Partitioners.DefaultPartitioner,
      // Unlimited retries (what kafkajs wants for an idempotent producer), but short waits
      // between them, so the first batch after a broker comes back goes out within a second.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    this.compression = opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  }

  async start(): Promise<void> {
    await this.producer.connect();
  }

  /** Kafka is considered unavailable while one produce request has been pending for over 2 s. */
  get stalled(): boolean {
    return this.sending && Date.now() - this.sendStartedAt > 2000;
  }

  /** Resolves when Kafka has acknowledged this message (with its batch). */
  send(key: string, value: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('kafka emitter closed'));
    let batch = this.open;
    if (batch === undefined) {
      batch = this.open = newBatch();
      this.lingerTimer = setTimeout(() => this.seal(), this.opts.lingerMs);
    }
    batch.messages.push({ key, value });
    if (batch.messages.length >= this.opts.batchMax) this.seal();
    return batch.promise;
  }

  /** Several messages, in order; resolves when Kafka has acknowledged all of them. */
  sendAll(messages: ReadonlyArray<{ key: string; value: string }>): Promise<void> {
    const batches: Array<Promise<void>> = [];
    for (const { key, value } of messages) {
      const batch = this.send(key, value);
      if (batch !== batches[batches.length - 1]) batches.push(batch);
    }
    return batches.length === 1 ? batches[0]! : Promise.all(batches).then(() => undefined);
  }

  private seal(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    const batch = this.open;
    this.open = undefined;
    if (batch === undefined) return;
    this.sealed.push(batch);
    if (!this.sending) void this.pump();
  }

  private async pump(): Promise<void> {
    this.sending = true;
    while (this.sealed.length > 0) {
      // Everything sealed while the previous request was on the wire goes out together.
      const batches = this.sealed.splice(0, this.sealed.length);
      const messages = batches.length === 1 ? batches[0]!.messages : batches.flatMap((b) => b.messages);
      this.sendStartedAt = Date.now();
      let attempt = 0;
      for (;;) {
        try {
          const startedAt = performance.now();
          await this.producer.send({ topic: this.opts.topic, messages, acks: -1, compression: this.compression, timeout: 10_000 });
          this.opts.events.batchSent(messages.length, (performance.now() - startedAt) / 1000);
          for (const b of batches) b.resolve();
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
