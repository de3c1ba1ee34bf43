#!/usr/bin/env node
// Where the ingestion's steady-rate ack tail comes from, measured in isolation: the latency of the
// Kafka path alone (the ingestion's own KafkaEmitter: linger, one request in flight, acks from all
// in-sync replicas) at a steady rate, beside a bare kafkajs producer sending the same batches, and
// the Redis index script alone. No gRPC, no threads: what these add is the stores' own latency on
// this machine. Usage: node bench/kafka-latency.mjs  (BENCH_RATE msgs/s [5000], BENCH_SECONDS [15])
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connectRedis, createKafka, createLogger, ensureTopics } from '@greenlane/common';
import { KafkaEmitter } from '../dist/src/kafka-emitter.js';
import { installFastKafkaCodec } from '../dist/src/kafka-codec-install.js';
import { writeFleetIndex } from '../dist/src/redis-index.js';
import { serializeTelemetry } from '../dist/src/event.js';

const RATE = Number(process.env.BENCH_RATE ?? 5000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const log = createLogger('kafka-latency-bench', { LOG_LEVEL: 'error' });
await installFastKafkaCodec();
const topic = `bench-kafka-latency-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
const kafka = createKafka({ brokers: BROKERS, clientId: 'bench', log, quiet: true });
await ensureTopics(kafka, [{ topic, numPartitions: 12 }]);

const statuses = Array.from({ length: 100 }, (_, i) => ({ carId: `LAT-${i}`, latitude: 40.75, longitude: -73.98, batteryLevel: 50, velocity: 10, timestamp: 0, stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0 }));
const quantiles = (xs) => { const s = [...xs].sort((a, b) => a - b); const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))]; return { n: s.length, p50: +q(0.5).toFixed(2), p99: +q(0.99).toFixed(2), p999: +q(0.999).toFixed(2), max: +s[s.length - 1].toFixed(2) }; };

/** Calls `send(i)` RATE times a second in 1 ms ticks for SECONDS; returns the latencies (ms). */
async function paced(send) {
  const latencies = [];
  const start = performance.now();
  let sent = 0;
  const total = RATE * SECONDS;
  const pending = [];
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
      for (; sent < due; sent++) {
        const at = performance.now();
        pending.push(send(sent).then(() => latencies.push(performance.now() - at)));
      }
      if (sent >= total) { clearInterval(tick); resolve(); }
    }, 1);
  });
  await Promise.all(pending);
  return quantiles(latencies.slice(Math.floor(latencies.length / 10)));
}

function event(i) {
  const s = statuses[i % statuses.length];
  s.timestamp = Date.now();
  return { key: s.carId, value: serializeTelemetry(s).value };
}

// 1. The emitter, one message per call (as the storage thread's turns send them).
const emitter = new KafkaEmitter({ kafka, topic, lingerMs: Number(process.env.KAFKA_LINGER_MS ?? 0), batchMax: 4000, compression: 'none', events: { batchSent() {}, sendFailed() {} }, log });
await emitter.start();
await paced(async (i) => emitter.sendAll([event(i)])); // warm-up
const viaEmitter = await paced(async (i) => emitter.sendAll([event(i)]));
await emitter.close(5000);

// 2. A bare kafkajs idempotent producer: what came due while a request was out goes in the next one.
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await producer.connect();
let queue = [];
let sending = false;
async function pump() {
  sending = true;
  while (queue.length > 0) {
    const batch = queue;
    queue = [];
    await producer.send({ topic, acks: -1, messages: batch.map((b) => b.message) });
    for (const b of batch) b.resolve();
  }
  sending = false;
}
const bare = await paced((i) => new Promise((resolve) => {
  queue.push({ message: event(i), resolve });
  if (!sending) void pump();
}));
await producer.disconnect();

// 3. The Redis index script, a batch of what came due per 1 ms tick.
const redis = await connectRedis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/4', log);
let redisBatch = [];
let redisWrite;
const viaRedis = await paced((i) => {
  const s = { ...statuses[i % statuses.length], timestamp: Date.now() };
  redisBatch.push(s);
  if (redisBatch.length === 1) redisWrite = new Promise((resolve) => setImmediate(() => { const b = redisBatch; redisBatch = []; resolve(writeFleetIndex(redis, b)); }));
  return redisWrite;
});
await redis.quit();

const result = { at: new Date().toISOString(), bench: 'stores-latency', rate: RATE, seconds: SECONDS, emitterMs: viaEmitter, bareProducerMs: bare, redisIndexMs: viaRedis };
console.log(`${RATE} msgs/s for ${SECONDS} s (first 10 % dropped), latency of one event in ms:`);
console.log(`  KafkaEmitter (linger ${process.env.KAFKA_LINGER_MS ?? 0} ms, 1 in flight): p50 ${viaEmitter.p50}  p99 ${viaEmitter.p99}  p99.9 ${viaEmitter.p999}  max ${viaEmitter.max}`);
console.log(`  bare kafkajs producer, no linger:         p50 ${bare.p50}  p99 ${bare.p99}  p99.9 ${bare.p999}  max ${bare.max}`);
console.log(`  Redis index script, per-turn batches:     p50 ${viaRedis.p50}  p99 ${viaRedis.p99}  p99.9 ${viaRedis.p999}  max ${viaRedis.max}`);
console.log(JSON.stringify(result));
process.exit(0);
