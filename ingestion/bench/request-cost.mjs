#!/usr/bin/env node
// What one request to a store costs the client in CPU, in isolation, on this machine: the figure
// behind the ingestion's CPU per message at moderate rates, where the storage thread sends one
// produce request and one index script per few messages (bench/throughput.mjs part b prints the
// batch sizes). Each kind goes one at a time (the next once the last is answered), BENCH_REQUESTS
// (1,500) times after as many for warm-up, in two interleaved rounds, measured with
// process.cpuUsage (user + system µs per request):
//   - a loopback round trip with no client library: `PING` to Redis on a bare socket;
//   - node-redis PING;
//   - the ingestion's KafkaEmitter (its own encoders, acks from all in-sync replicas) with 1 and
//     with 30 events a request;
//   - a bare kafkajs producer with the same 1 and 30 events (kafkajs's own encoders).
//
//   node bench/request-cost.mjs        (from ingestion/, after `npx tsc -b ingestion`; make up's Kafka and Redis)
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { connectRedis, createKafka, createLogger, ensureTopics } from '@greenlane/common';
import { KafkaEmitter } from '../dist/src/kafka-emitter.js';
import { installFastKafkaCodec } from '../dist/src/kafka-codec-install.js';
import { serializeTelemetry } from '../dist/src/event.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1500);
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/4';
const log = createLogger('request-cost-bench', { LOG_LEVEL: 'error' });
await installFastKafkaCodec();

/** user and system CPU µs per call of `once` (awaited one after another), after as many unmeasured. */
async function perRequest(once) {
  for (let i = 0; i < REQUESTS; i++) await once();
  const before = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) await once();
  const used = process.cpuUsage(before);
  return { user: Math.round(used.user / REQUESTS), system: Math.round(used.system / REQUESTS) };
}

const { hostname, port } = new URL(REDIS_URL);
const socket = net.connect(Number(port || 6379), hostname);
await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
socket.setNoDelay(true);
const rawPing = () =>
  new Promise((resolve) => {
    socket.once('data', resolve);
    socket.write('PING\r\n');
  });

const redis = await connectRedis(REDIS_URL, log);
const topic = `bench-request-cost-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
const kafka = createKafka({ brokers: BROKERS, clientId: 'bench', log, quiet: true });
await ensureTopics(kafka, [{ topic, numPartitions: 12 }]);
const emitter = new KafkaEmitter({ kafka, topic, lingerMs: 0, batchMax: 1000, compression: 'none', events: { batchSent() {}, sendFailed() {} }, log });
await emitter.start();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await producer.connect();

const events = (n) =>
  Array.from({ length: n }, (_, i) => {
    const status = { carId: `COST-${i}`, latitude: 40.75, longitude: -73.98, batteryLevel: 50, velocity: 10, timestamp: 1_796_000_000_000 + i, stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0 };
    return { key: status.carId, value: serializeTelemetry(status).value };
  });
const [one, thirty] = [events(1), events(30)];

const kinds = [
  ['raw loopback round trip (Redis PING, bare socket)', rawPing],
  ['node-redis PING', () => redis.ping()],
  ['KafkaEmitter, 1 event', () => emitter.sendAll(one)],
  ['KafkaEmitter, 30 events', () => emitter.sendAll(thirty)],
  ['kafkajs producer.send, 1 event', () => producer.send({ topic, messages: one, acks: -1 })],
  ['kafkajs producer.send, 30 events', () => producer.send({ topic, messages: thirty, acks: -1 })],
];
const figures = new Map(kinds.map(([name]) => [name, []]));
for (let round = 0; round < 2; round++) for (const [name, once] of kinds) figures.get(name).push(await perRequest(once));

console.log(`CPU per request, one at a time, ${REQUESTS} requests, two rounds (user + system µs):`);
for (const [name, runs] of figures) console.log(`  ${name.padEnd(50)} ${runs.map((r) => `${r.user} + ${r.system} = ${r.user + r.system}`).join('   ')}`);

socket.destroy();
await redis.quit();
await producer.disconnect();
await emitter.close(5000);
const admin = kafka.admin();
await admin.connect();
await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
await admin.disconnect();
