/**
 * kafkajs's `producer/groupMessagesPerPartition` in linear time, put in its place before kafkajs is
 * loaded: the storage thread imports this module first, because kafkajs's producer binds the
 * function when it loads (unlike the encoders of kafka-codec-install.ts, loaded on first produce).
 *
 * Why: kafkajs's copies a partition's whole array for every message it adds (`[...current,
 * message]`) and a new object per message: 0.6–1.0 µs a message for batches of 200–1,000 over 6
 * partitions, against 0.05–0.1 µs here (`node bench/kafka-grouping.mjs`). Same result:
 * the messages of each partition, in their order, under the partition's number. Replaced only when
 * it agrees with kafkajs's own on samples; `groupingProblem` says why not otherwise.
 */
import { createRequire } from 'node:module';

export const GROUPING_MODULE = 'kafkajs/src/producer/groupMessagesPerPartition.js';

interface GroupArgs<M> {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly M[];
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: M }) => number;
}
type Grouping = <M>(args: GroupArgs<M>) => Record<number, M[]>;

export const groupMessagesPerPartition: Grouping = ({ topic, partitionMetadata, messages, partitioner }) => {
  const result: Record<number, (typeof messages)[number][]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
};

/** True when both group every sample alike: the same partitions, each with the same messages in the same order. */
export function groupingsAgree(original: Grouping, candidate: Grouping): boolean {
  const metadata = (n: number) => Array.from({ length: n }, (_, i) => ({ partitionId: i }));
  const byKey = ({ partitionMetadata, message }: { partitionMetadata: readonly unknown[]; message: { key: string } }) =>
    [...message.key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1009, 7) % partitionMetadata.length;
  for (const [partitions, count] of [[6, 200], [1, 50], [3, 0], [0, 5], [12, 7]] as const) {
    const messages = Array.from({ length: count }, (_, i) => ({ key: `CAR-${i % 37}`, value: `v${i}` }));
    const args = { topic: 't', partitionMetadata: metadata(partitions), messages, partitioner: byKey };
    const a = original(args);
    const b = candidate(args);
    const keys = Object.keys(a);
    if (keys.join() !== Object.keys(b).join()) return false;
    for (const k of keys) {
      const x = a[Number(k)]!;
      const y = b[Number(k)]!;
      if (x.length !== y.length || x.some((m, i) => m !== y[i])) return false;
    }
  }
  return true;
}

/** Puts the linear grouping in kafkajs's module cache; says why not when it cannot. */
function install(): string | undefined {
  const require = createRequire(import.meta.url);
  try {
    const path = require.resolve(GROUPING_MODULE);
    const producer = require.resolve('kafkajs/src/producer/sendMessages.js');
    if (require.cache[producer] !== undefined) return `${GROUPING_MODULE}: kafkajs's producer was loaded first; keeping its own`;
    const original = require(path) as Grouping;
    if (!groupingsAgree(original, groupMessagesPerPartition)) return `${GROUPING_MODULE}: this kafkajs groups differently; keeping its own`;
    require.cache[path]!.exports = groupMessagesPerPartition;
    return undefined;
  } catch (error) {
    return `${GROUPING_MODULE}: not found (${(error as Error).message}); keeping kafkajs's own`;
  }
}

export const groupingProblem: string | undefined = install();
