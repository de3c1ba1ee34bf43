#!/usr/bin/env node
/**
 * Does a produce acknowledged by kafkajs survive kill -9 of a partition leader? The producer of
 * ingestion/src/kafka-emitter.ts (idempotent, acks=all, one request in flight, unlimited retries
 * 100 ms to 1 s; the client of common/src/kafka.ts), sending batches that span the three nodes
 * of the cluster run's private cluster (lib/cluster.mjs, offset 700), while the node leading the
 * most partitions is killed (down 8 s), started again, back in every ISR and the preferred leaders
 * re-elected, `--rounds` times. Then the topic is read back: every acknowledged message must be on it.
 *
 *   node chaos/kafkajs-leader-loss.mjs [--rounds 3] [--offset 700] [--keep-infra] [--complete]
 * --complete sends through common/src/kafka-send.ts's sendCompletely, as the ingestion does.
 *
 * Found by the cluster run: with kafkajs 2.2.4 every kill loses the messages that the request in
 * flight to the killed node carried, although send() resolved. kafkajs's sendMessages keeps the
 * answers per broker across its retries; once the dead node's partitions are led by nodes that had
 * answered the first attempt for their own partitions, the retry finds "nothing left to send" and
 * resolves. Exit 1 when anything acknowledged is missing.
 */
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { CLUSTER_OFFSET, clusterCmd, clusterConfig, clusterUrls, createTopics, kafkaAdmin, partitionsOf, timeUntil } from './lib/cluster.mjs';
import { sleep } from './lib/stack.mjs';

const { Kafka, logLevel } = kafkajs;
const { values } = parseArgs({ options: { rounds: { type: 'string' }, offset: { type: 'string' }, 'keep-infra': { type: 'boolean' }, complete: { type: 'boolean' } } });
// --complete: every send through common's sendCompletely (what the ingestion's emitter does now).
const complete = values.complete === true;
const { sendCompletely, trackPartitions } = await import('../common/dist/src/kafka-send.js');
const tracker = trackPartitions();
let resent = 0;
const rounds = Number(values.rounds ?? 3);
const cfg = clusterConfig(Number(values.offset ?? CLUSTER_OFFSET));
const { brokers } = clusterUrls(cfg, 'unused');
const say = (line) => process.stderr.write(`[kafkajs-leader-loss ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

await clusterCmd(cfg, 'up', 'kafka');
const topic = `leader-loss-${Date.now()}`;
await createTopics(brokers, [topic]);
// As common/src/kafka.ts's createKafka and the emitter's producer.
const kafka = new Kafka({ brokers, clientId: 'leader-loss', logLevel: logLevel.NOTHING, retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 30 } });
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, ...(complete ? { createPartitioner: tracker.createPartitioner } : {}), retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 } });
await producer.connect();
const admin = kafkaAdmin(brokers);
await admin.connect();

// Batches of 30 messages, 5 to each partition (partition = floor((n % 30) / 5)), one send at a time.
const acked = new Set();
let n = 0;
let stop = false;
const loop = (async () => {
  while (!stop) {
    const messages = [];
    for (let p = 0; p < 6; p++) for (let k = 0; k < 5; k++) messages.push({ partition: p, key: `k${p}`, value: String(n++) });
    const record = { topic, acks: -1, timeout: 10_000, messages };
    if (complete) await sendCompletely(producer, record, tracker, (count) => (resent += count));
    else await producer.send(record);
    for (const m of messages) acked.add(m.value);
  }
})();

const killed = [];
await sleep(3000);
for (let round = 0; round < rounds; round++) {
  const parts = await partitionsOf(admin, topic);
  const count = new Map();
  for (const p of parts) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
  const [[victim]] = [...count].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const led = parts.filter((p) => p.leader === victim).map((p) => p.partitionId);
  say(`round ${round + 1}/${rounds}: kill -9 kafka-${victim} (leads partitions ${led.join(', ')}), ${acked.size} acknowledged so far`);
  killed.push({ node: `kafka-${victim}`, led });
  await clusterCmd(cfg, 'kill', `kafka-${victim}`);
  await sleep(8000);
  await clusterCmd(cfg, 'start', `kafka-${victim}`);
  await timeUntil(async () => (await partitionsOf(admin, topic)).every((p) => p.isr.length === 3), 180_000, 500);
  await clusterCmd(cfg, 'rebalance');
  await sleep(3000);
}
stop = true;
await loop;
await producer.disconnect();

// Read everything back.
const ends = await admin.fetchTopicOffsets(topic);
const total = ends.reduce((s, p) => s + Number(p.high), 0);
const seen = new Set();
const consumer = kafka.consumer({ groupId: `${topic}-check` });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
let read = 0;
await new Promise((resolve) =>
  consumer.run({
    eachMessage: async ({ message }) => {
      seen.add(message.value.toString());
      if (++read >= total) resolve();
    },
  }),
);
await consumer.disconnect();
await admin.deleteTopics({ topics: [topic] }).catch(() => {});
await admin.disconnect();
if (!values['keep-infra']) await clusterCmd(cfg, 'down');

const lost = [...acked].filter((v) => !seen.has(v)).map(Number).sort((a, b) => a - b);
const byPartition = {};
for (const v of lost) byPartition[Math.floor((v % 30) / 5)] = (byPartition[Math.floor((v % 30) / 5)] ?? 0) + 1;
console.log(`kafkajs ${(await import('kafkajs/package.json', { with: { type: 'json' } })).default.version}: ${rounds} kills (${killed.map((k) => `${k.node} leading ${k.led.join('+')}`).join(', ')})`);
console.log(`${complete ? `sendCompletely (sent again: ${resent} messages)` : 'plain send()'}: acknowledged ${acked.size}, on the topic ${seen.size} distinct (${total} records); acknowledged but missing: ${lost.length}${lost.length ? ` by partition ${JSON.stringify(byPartition)}, e.g. ${lost.slice(0, 10).join(', ')}` : ''}`);
process.exit(lost.length === 0 ? 0 : 1);
