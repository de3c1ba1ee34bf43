#!/usr/bin/env node
// Offline detection time, on the real Redis and Kafka with two ingestion instances as processes:
//   a) BENCH_CARS cars (200) stream through instance A, then go silent (streams open, nothing sent):
//      from each car's last CarStatus to its car_offline event (reason timeout);
//   b) BENCH_CARS cars stream through instance B, which is then killed (kill -9): from the kill to
//      each car's car_offline event (reason instance_lost), detected by instance A.
// PRESENCE_TIMEOUT_MS is BENCH_PRESENCE_TIMEOUT_MS (10000; the service's default is 30000), the
// grace and flush are the service's defaults. Prints p50/p99/max for each and one JSON line;
// writes bench/results/presence-<time>.json.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata } from '@grpc/grpc-js';
import { Kafka, logLevel } from 'kafkajs';
import { connectRedis, createLogger } from '@greenlane/common';
import { FleetServiceClient } from '@greenlane/common/gen/fleet/fleet';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CARS = Number(process.env.BENCH_CARS ?? 200);
const TIMEOUT_MS = Number(process.env.BENCH_PRESENCE_TIMEOUT_MS ?? 10_000);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const redisUrl = `${(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/15`; // a database no test or other bench uses
const TOKEN = 'presence-bench-token';
const run = Date.now().toString(36);
const topic = `bench-presence-${run}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = createLogger('presence-bench', { LOG_LEVEL: 'error' });

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

async function instance(id) {
  const grpc = `127.0.0.1:${await freePort()}`;
  const http = `127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, ['ingestion/dist/src/main.js'], {
    cwd: ROOT, stdio: 'ignore',
    env: { ...process.env, INGESTION_ADDR: grpc, INGESTION_HTTP_ADDR: http, REDIS_URL: redisUrl, KAFKA_BROKERS: brokers.join(','), FLEET_EVENTS_TOPIC: topic, API_TOKENS: TOKEN, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0', INGESTION_BOOKINGS: 'false', INGESTION_INSTANCE_ID: id, PRESENCE_TIMEOUT_MS: String(TIMEOUT_MS), LOG_LEVEL: 'warn' },
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://${http}/ready`)).ok) break;
    } catch {}
    await sleep(100);
  }
  return { id, grpc, http, child };
}

function status(carId) {
  return { carId, latitude: 40.75, longitude: -73.98, batteryLevel: 50, velocity: 20, timestamp: Date.now(), stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined };
}

/** Opens a stream per car, sends a few CarStatus, waits for their acks; resolves with each car's last send time. */
async function drive(target, prefix) {
  const client = new FleetServiceClient(target, credentials.createInsecure());
  const md = new Metadata();
  md.set('x-api-token', TOKEN);
  const lastSent = new Map();
  const calls = [];
  await Promise.all(Array.from({ length: CARS }, async (_, i) => {
    const car = `${prefix}${i}`;
    const call = client.streamTelemetry(md);
    call.on('error', () => undefined);
    calls.push(call);
    let acks = 0;
    await new Promise((resolve) => {
      call.on('data', () => ++acks === 3 && resolve());
      for (let k = 0; k < 3; k++) call.write(status(car));
    });
    lastSent.set(car, Date.now());
  }));
  return { client, calls, lastSent };
}

const quantiles = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] };
};

const redis = await connectRedis(redisUrl, log);
await redis.flushDb();
const a = await instance('presence-a');
const b = await instance('presence-b');
const offline = new Map();
const online = new Set();
const consumer = new Kafka({ brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: `bench-presence-${run}` });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await consumer.run({
  eachMessage: async ({ message }) => {
    const e = JSON.parse(message.value.toString());
    if (e.event_type === 'car_offline' && !offline.has(e.car_id)) offline.set(e.car_id, e);
    if (e.event_type === 'car_online') online.add(e.car_id);
  },
});

// a) silent cars on A.
const silent = await drive(a.grpc, `SILENT-${run}-`);
// b) cars on B, then B killed.
const doomed = await drive(b.grpc, `LOST-${run}-`);
// Killed once its cars are known online (B reports the cars it heard once a second).
while (![...doomed.lastSent.keys()].every((car) => online.has(car))) await sleep(50);
b.child.kill('SIGKILL');
const killedAt = Date.now();
const deadline = Date.now() + 3 * TIMEOUT_MS + 30_000;
while (offline.size < 2 * CARS && Date.now() < deadline) await sleep(200);

const silentMs = [...silent.lastSent].filter(([car]) => offline.has(car)).map(([car, at]) => offline.get(car).timestamp - at);
const lostMs = [...doomed.lastSent.keys()].filter((car) => offline.has(car)).map((car) => offline.get(car).timestamp - killedAt);
const reasons = {};
for (const e of offline.values()) reasons[e.reason] = (reasons[e.reason] ?? 0) + 1;
const result = {
  at: new Date().toISOString(), bench: 'presence', cars: CARS, presenceTimeoutMs: TIMEOUT_MS, graceMs: 5000, flushMs: 1000,
  silentToOfflineMs: quantiles(silentMs), killToOfflineMs: quantiles(lostMs), offlineEvents: offline.size, reasons,
};
console.log(`presence timeout ${TIMEOUT_MS} ms, ${CARS} cars each case; car_offline events: ${offline.size} ${JSON.stringify(reasons)}`);
console.log(`  a) silent car → car_offline ms: p50 ${result.silentToOfflineMs.p50}  p99 ${result.silentToOfflineMs.p99}  max ${result.silentToOfflineMs.max} (${silentMs.length} cars)`);
console.log(`  b) instance kill -9 → car_offline ms: p50 ${result.killToOfflineMs.p50}  p99 ${result.killToOfflineMs.p99}  max ${result.killToOfflineMs.max} (${lostMs.length} cars; within two timeouts: ${result.killToOfflineMs.max <= 2 * TIMEOUT_MS ? 'yes' : 'NO'})`);
console.log(JSON.stringify(result));
mkdirSync(`${ROOT}bench/results`, { recursive: true });
writeFileSync(`${ROOT}bench/results/presence-${result.at.replace(/[:.]/g, '-')}.json`, `${JSON.stringify(result, null, 1)}\n`);

for (const c of silent.calls) c.cancel();
silent.client.close();
doomed.client.close();
await consumer.disconnect();
a.child.kill('SIGTERM');
await new Promise((r) => a.child.once('exit', r));
const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
await admin.connect();
await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
await admin.disconnect();
await redis.flushDb();
await redis.quit();
process.exit(0);
