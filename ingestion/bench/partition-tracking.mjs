#!/usr/bin/env node
// What remembering each message's partition costs the storage thread (common/src/kafka-send.ts's
// tracker, which lets a send find the messages a broker's answer left out), in isolation: a WeakMap
// entry per message (the tracker before) against a property under the tracker's own symbol (now),
// around the service's partitioner, for batches of 200 fresh messages over 6 partitions, as the
// emitter makes them, interleaved twice. Prints CPU µs per message (message creation included,
// alike in both), in the same run.
//
//   node bench/partition-tracking.mjs        (from ingestion/, after `npx tsc -b ingestion`)
import { trackPartitions } from '@greenlane/common/kafka-send';
import { FastDefaultPartitioner } from '../dist/src/kafka-partitioner.js';

/** The tracker as it was: a WeakMap from message to partition. */
function weakMapTracker(base) {
  const assigned = new WeakMap();
  return {
    createPartitioner: () => {
      const decide = base();
      return (args) => {
        const partition = decide(args);
        assigned.set(args.message, partition);
        return partition;
      };
    },
    partitionOf: (message) => assigned.get(message),
  };
}

const N = 200;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3000);
const partitionMetadata = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 1 }));
const keys = Array.from({ length: N }, (_, i) => `LOAD-${String(i).padStart(5, '0')}`);
const value = '{"event_id":"9f86d081884c7d659a2feaa0c55ad015","event_type":"telemetry"}';

/** One send's worth: fresh messages, each partitioned, then each looked up (as sendCompletely does). */
function round(tracker, partition) {
  const messages = new Array(N);
  for (let i = 0; i < N; i++) messages[i] = { key: keys[i], value };
  let sum = 0;
  for (const message of messages) sum += partition({ topic: 'fleet-events', partitionMetadata, message });
  for (const message of messages) sum -= tracker.partitionOf(message);
  if (sum !== 0) throw new Error('a message lost its partition');
}

const perMessage = {};
for (const [name, make] of [['WeakMap', weakMapTracker], ['symbol', trackPartitions], ['WeakMap', weakMapTracker], ['symbol', trackPartitions]]) {
  const tracker = make(FastDefaultPartitioner);
  const partition = tracker.createPartitioner();
  for (let i = 0; i < 300; i++) round(tracker, partition);
  const before = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) round(tracker, partition);
  const used = process.cpuUsage(before);
  (perMessage[name] ??= []).push((used.user + used.system) / (ROUNDS * N));
}
const f = (xs) => xs.map((x) => x.toFixed(3)).join(' / ');
console.log(`${N} messages over 6 partitions: WeakMap ${f(perMessage.WeakMap)} µs/message, symbol ${f(perMessage.symbol)} µs/message`);
