#!/usr/bin/env node
// kafkajs's own cost to encode a produce request (what the storage thread pays per event, besides
// the network), in isolation: the same request of 300 events of the service's size over 6
// partitions, encoded with kafkajs's record encoder and CRC-32C, then with src/kafka-codec.ts's, then
// also with src/kafka-produce-request.ts's one-pass request (what the service runs). Prints CPU µs per
// event for each and their ratio to kafkajs's own, in the same run; the requests are byte-identical.
//
//   node bench/kafka-encode.mjs        (from ingestion/, after `npx tsc -b ingestion`)
import { createRequire } from 'node:module';
import { agrees, crc32c, fastRecordEncoder } from '../dist/src/kafka-codec.js';
import { fastProduceRequest } from '../dist/src/kafka-produce-request.js';

const require = createRequire(import.meta.url);
const RECORD = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const REQUEST = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js');
const RECORD_BATCH = require.resolve('kafkajs/src/protocol/recordBatch/v0/index.js');
const CRC = require.resolve('kafkajs/src/protocol/recordBatch/crc32C/index.js');
const { Types } = require('kafkajs/src/protocol/message/compression');
const N = 300;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 600);

const value = JSON.stringify({
  event_id: '9f86d081884c7d659a2feaa0c55ad015', event_type: 'telemetry', car_id: 'LOAD-00042',
  lat: 40.751234, lon: -73.982345, battery: 61.25, velocity: 33.1, timestamp: 1796118664474,
});
const topicData = [{
  topic: 'fleet-events',
  partitions: Array.from({ length: 6 }, (_, p) => ({
    partition: p,
    firstSequence: 0, // fixed timestamps below: the request holds no Date.now(), so two encodings compare
    messages: Array.from({ length: N / 6 }, (_, i) => ({ key: `LOAD-${p}-${i}`, value, timestamp: 1796118664474 + i })),
  })),
}];

/** The produce request module, loaded afresh with `record` and `crc` as kafkajs's record encoder and CRC. */
function produceRequest(record, crc) {
  delete require.cache[REQUEST];
  delete require.cache[RECORD_BATCH];
  require(RECORD);
  require(CRC);
  require.cache[RECORD].exports = record;
  require.cache[CRC].exports = crc;
  return require(REQUEST);
}

async function measure(Produce) {
  const encode = () => Produce({ acks: -1, timeout: 10_000, compression: Types.None, topicData, producerId: 1, producerEpoch: 0 }).encode();
  for (let i = 0; i < 100; i++) await encode();
  const before = process.cpuUsage();
  let bytes;
  for (let i = 0; i < ROUNDS; i++) bytes = (await encode()).buffer;
  const used = process.cpuUsage(before);
  return { usPerEvent: (used.user + used.system) / (ROUNDS * N), bytes };
}

const original = require(RECORD);
const originalCrc = require(CRC);
const fast = fastRecordEncoder(original);
if (!agrees(original, fast)) throw new Error('the fast record encoder disagrees with kafkajs on the sample records');
const a = await measure(produceRequest(original, originalCrc));
const b = await measure(produceRequest(fast, crc32c));
const c = await measure(fastProduceRequest(produceRequest(fast, crc32c)));
const a2 = await measure(produceRequest(original, originalCrc));
if (!a.bytes.equals(b.bytes) || !a.bytes.equals(c.bytes)) throw new Error('the encoders produced different requests');
const kafkajs = (a.usPerEvent + a2.usPerEvent) / 2;
console.log(`kafkajs produce request encode, ${N} events of ${value.length} B over 6 partitions, ${ROUNDS} requests each:`);
console.log(`  kafkajs record + CRC                 ${a.usPerEvent.toFixed(2)} µs/event (again after: ${a2.usPerEvent.toFixed(2)})`);
console.log(`  src/kafka-codec.ts                   ${b.usPerEvent.toFixed(2)} µs/event  (${(b.usPerEvent / kafkajs).toFixed(2)}× kafkajs's)`);
console.log(`  + src/kafka-produce-request.ts       ${c.usPerEvent.toFixed(2)} µs/event  (${(c.usPerEvent / kafkajs).toFixed(2)}× kafkajs's, ${(c.usPerEvent / b.usPerEvent).toFixed(2)}× the record codec alone; requests byte-identical: yes)`);
