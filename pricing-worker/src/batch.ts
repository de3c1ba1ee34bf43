/**
 * One Kafka batch, as a straight line: decode on the pool → price → write rows → dead letters.
 * Throws when the grid, the database or the DLQ fails; the caller then puts the batch back.
 */
import type { KafkaMessage } from 'kafkajs';
import type pg from 'pg';
import type { DecodedBatch } from './decode.js';
import { packValues } from './decode.js';
import type { DecodeTask } from './decode-task.js';
import type { PriceCache } from './price-cache.js';
import { buildRows } from './rows.js';
import { writeRows, type WriteResult } from './db-writer.js';
import type { DeadLetter } from './dlq.js';

export interface BatchDeps {
  decode(task: DecodeTask, transfer: ArrayBuffer[]): Promise<DecodedBatch>;
  prices: PriceCache;
  /** Runs `fn` on a database connection and gives it back (closing it on the embedded database). */
  withDb<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T>;
  deadLetters(letters: DeadLetter[]): Promise<void>;
}

export interface BatchOutcome extends WriteResult {
  events: number;
  samples: number;
  poison: number;
}

export async function processBatch(deps: BatchDeps, topic: string, partition: number, messages: KafkaMessage[]): Promise<BatchOutcome> {
  const { buf, lengths } = packValues(messages.map((m) => m.value));
  const decoded = await deps.decode({ buf, lengths }, [buf.buffer as ArrayBuffer, lengths.buffer as ArrayBuffer]);

  const prices = await deps.prices.pricesFor(decoded.samples.time);
  const rows = buildRows(decoded.samples, prices);
  const written = await deps.withDb((client) => writeRows(client, rows, { topic, partition }));

  // After the rows are committed and before the offset is: a crash in between repeats the
  // letters (same keys), never loses them.
  await deps.deadLetters(
    decoded.poison.map((p) => {
      const message = messages[p.index]!;
      return { topic, partition, offset: message.offset, value: message.value, reason: p.reason };
    }),
  );
  return { ...written, events: messages.length, samples: rows.count, poison: decoded.poison.length };
}
