/**
 * One Kafka batch, as a straight line: decode on the pool → price → write rows → dead letters.
 * Throws when the grid, the database or the DLQ fails; the caller then puts the batch back.
 *
 * A sample the database refuses for what it holds (a constraint it fails, a value it cannot
 * store) would fail its batch on every retry, and stop every car of the partition: the batch is
 * then written in halves, down to the refused samples, which go to the dead-letter topic with the
 * database's reason. Each part is a transaction of its own; the writer is idempotent, so a part
 * written before a retry is not written twice.
 */
import type { KafkaMessage } from 'kafkajs';
import type pg from 'pg';
import type { DecodedBatch, Poison } from './decode.js';
import { packValues } from './decode.js';
import type { DecodeTask } from './decode-task.js';
import type { PriceCache } from './price-cache.js';
import { buildRows, sliceRows, type RowColumns } from './rows.js';
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
  const refused: Poison[] = [];
  const written = await writeIsolating(deps, rows, { topic, partition }, refused);

  // After the rows are committed and before the offset is: a crash in between repeats the
  // letters (same keys), never loses them.
  const poison = [...decoded.poison, ...refused];
  await deps.deadLetters(
    poison.map((p) => {
      const message = messages[p.index]!;
      return { topic, partition, offset: message.offset, value: message.value, reason: p.reason };
    }),
  );
  return { ...written, events: messages.length, samples: rows.count - refused.length, poison: poison.length };
}

/** SQLSTATE classes of a refusal of the data itself (22 data exception, 23 integrity, 54000 too large). */
function refusesData(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23') || code === '54000');
}

/** Writes the rows; on a refusal of the data, each half again, down to the refused rows (added to `refused`). */
async function writeIsolating(deps: BatchDeps, rows: RowColumns, lock: { topic: string; partition: number }, refused: Poison[]): Promise<WriteResult> {
  try {
    return await deps.withDb((client) => writeRows(client, rows, lock));
  } catch (error) {
    if (!refusesData(error)) throw error;
    if (rows.count === 1) {
      refused.push({ index: rows.source[0]!, reason: `the database refused it: ${(error as Error).message}` });
      return { inserted: 0, recomputedSessions: 0, updated: 0 };
    }
    const half = rows.count >> 1;
    const a = await writeIsolating(deps, sliceRows(rows, 0, half), lock, refused);
    const b = await writeIsolating(deps, sliceRows(rows, half, rows.count), lock, refused);
    return { inserted: a.inserted + b.inserted, recomputedSessions: a.recomputedSessions + b.recomputedSessions, updated: a.updated + b.updated };
  }
}
