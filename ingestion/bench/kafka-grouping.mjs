#!/usr/bin/env node
// kafkajs's grouping of a produce call's messages by partition (producer/groupMessagesPerPartition),
// in isolation: its own against src/kafka-grouping-preload.ts's, for batches of 200 and 1,000
// events over 6 partitions with the service's partitioner, interleaved twice. Prints CPU µs per
// message for each, in the same run.
//
//   node bench/kafka-grouping.mjs        (from ingestion/, after `npx tsc -b ingestion`)
import { createRequire } from 'node:module';
import { groupingsAgree, groupMessagesPerPartition as linear } from '../dist/src/kafka-grouping-preload.js';
import { FastDefaultPartitioner } from '../dist/src/kafka-partitioner.js';

const require = createRequire(import.meta.url);
const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
delete require.cache[path]; // the preload put the linear one there: kafkajs's own, afresh
const kafkajs = require(path);
if (!groupingsAgree(kafkajs, linear)) throw new Error('the two groupings disagree');
const partitioner = FastDefaultPartitioner();
const partitionMetadata = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 1 }));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2000);

for (const n of [200, 1000]) {
  const messages = Array.from({ length: n }, (_, i) => ({ key: `LOAD-${String(i).padStart(5, '0')}`, value: '{}' }));
  const args = { topic: 'fleet-events', partitionMetadata, messages, partitioner };
  const perMessage = {};
  for (const [name, group] of [['kafkajs', kafkajs], ['linear', linear], ['kafkajs', kafkajs], ['linear', linear]]) {
    for (let i = 0; i < 200; i++) group(args);
    const before = process.cpuUsage();
    for (let i = 0; i < ROUNDS; i++) group(args);
    const used = process.cpuUsage(before);
    (perMessage[name] ??= []).push((used.user + used.system) / (ROUNDS * n));
  }
  const f = (xs) => xs.map((x) => x.toFixed(3)).join(' / ');
  console.log(`${n} messages over 6 partitions: kafkajs ${f(perMessage.kafkajs)} µs/message, linear ${f(perMessage.linear)} µs/message`);
}
