#!/usr/bin/env node
// Booking desk under contention: 1,000 cars over 50 stations of the shipped registry, through
// several desks (instances) on one Redis. Runs the compiled desk (npm run build first).
//
//   node bench/bookings.mjs [--cars 1000] [--stations 50] [--instances 2] [--seconds 5] [--rounds 5]
//
// burst:     every car asks at the same moment; repeated --rounds times on a fresh Redis.
// sustained: each car loops request -> (confirmed: plug in, unplug, which frees the slot) or
//            (failed: retry after 5-25 ms), for --seconds; measures confirmations per second.
// Redis: BENCH_REDIS_URL (default redis://127.0.0.1:6379/9, FLUSHed: a booking-tests database).
// Kafka and gRPC are not in the loop (publish is a no-op): this is the desk and its Lua scripts.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connectRedis, createLogger } from '@greenlane/common';
import { createBookingDesk } from '../dist/src/bookings/index.js';
import { DEFAULT_STATIONS_FILE } from '../dist/src/bookings/registry.js';

const { values } = parseArgs({
  options: {
    cars: { type: 'string', default: '1000' },
    stations: { type: 'string', default: '50' },
    instances: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
  },
});
const CARS = Number(values.cars);
const STATIONS = Number(values.stations);
const INSTANCES = Number(values.instances);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const url = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/9';
const log = createLogger('bookings-bench', { LOG_LEVEL: 'error' });

const stations = JSON.parse(readFileSync(DEFAULT_STATIONS_FILE, 'utf8')).slice(0, STATIONS);
const slots = stations.reduce((n, s) => n + s.slots, 0);
const file = join(mkdtempSync(join(tmpdir(), 'bookings-bench-')), 'stations.json');
writeFileSync(file, JSON.stringify(stations));

// Cars spread over the Manhattan box, deterministic.
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const cars = Array.from({ length: CARS }, (_, i) => ({ id: `BENCH-${i}`, lat: 40.7 + random() * 0.15, lon: -74.02 + random() * 0.09 }));

function status(car, extra = {}) {
  return {
    carId: car.id, latitude: car.lat, longitude: car.lon, batteryLevel: 12, velocity: 0, timestamp: Date.now(),
    stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, ...extra,
  };
}
const asking = (car) => status(car, { bookingRequest: { carId: car.id, stationId: '', expectedArrival: 0, batteryLevel: 12 } });

async function openDesks() {
  const admin = await connectRedis(url, log);
  await admin.flushDb();
  const clients = [];
  const desks = [];
  for (let i = 0; i < INSTANCES; i++) {
    const redis = await connectRedis(url, log);
    clients.push(redis);
    desks.push(await createBookingDesk({
      redis, log, env: { STATIONS_FILE: file },
      publish: async () => undefined, currentPrice: async () => 0.3, notifyCar: () => false,
    }));
  }
  return {
    desks,
    admin,
    async close() {
      for (const d of desks) await d.close();
      for (const c of clients) await c.close();
      await admin.close();
    },
  };
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const ms = (x) => `${x.toFixed(2)} ms`;

async function invariantHolds(redis) {
  for (const s of stations) {
    const [free, booked, occupied] = await Promise.all([
      redis.get(`station:${s.id}:capacity`), redis.sCard(`station:${s.id}:booked`), redis.sCard(`station:${s.id}:occupied`),
    ]);
    if (Number(free) + booked + occupied !== s.slots) return false;
  }
  return true;
}

console.log(`bookings bench: ${CARS} cars, ${stations.length} stations (${slots} slots), ${INSTANCES} desks, Redis ${url}`);

// Burst rounds.
const burstLatencies = [];
let burstConfirmed = 0;
let burstMs = 0;
let invariantOk = true;
for (let round = 0; round < ROUNDS; round++) {
  const env = await openDesks();
  const started = performance.now();
  const answers = await Promise.all(cars.map(async (car, i) => {
    const t0 = performance.now();
    const r = await env.desks[i % INSTANCES].request(asking(car));
    burstLatencies.push(performance.now() - t0);
    return r;
  }));
  burstMs += performance.now() - started;
  const confirmed = answers.filter((r) => r.status === 1).length;
  burstConfirmed += confirmed;
  if (confirmed !== Math.min(CARS, slots)) console.log(`  round ${round}: ${confirmed} confirmed (expected ${Math.min(CARS, slots)})`);
  invariantOk &&= await invariantHolds(env.admin);
  await env.close();
}
burstLatencies.sort((a, b) => a - b);
console.log(
  `burst     : ${ROUNDS} x ${CARS} simultaneous requests: ${(burstConfirmed / ROUNDS).toFixed(0)} confirmed per round, ` +
  `${((CARS * ROUNDS) / (burstMs / 1000)).toFixed(0)} requests/s, ${(burstConfirmed / (burstMs / 1000)).toFixed(0)} confirmations/s, ` +
  `p50 ${ms(percentile(burstLatencies, 50))} p99 ${ms(percentile(burstLatencies, 99))} max ${ms(burstLatencies.at(-1))}`,
);

// Sustained closed loop.
{
  const env = await openDesks();
  const latencies = [];
  let confirmed = 0;
  let failed = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const sleep = (t) => new Promise((resolve) => setTimeout(resolve, t));
  const started = performance.now();
  await Promise.all(cars.map(async (car, i) => {
    const desk = env.desks[i % INSTANCES];
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const r = await desk.request(asking(car));
      latencies.push(performance.now() - t0);
      if (r.status === 1) {
        confirmed++;
        const station = stations.find((s) => s.id === r.stationId);
        await desk.observe(status(car, { stationId: station.id, charging: true, latitude: station.lat, longitude: station.lon }));
        await desk.observe(status(car));
      } else {
        failed++;
        await sleep(5 + random() * 20);
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  invariantOk &&= await invariantHolds(env.admin);
  console.log(
    `sustained : ${seconds.toFixed(1)} s: ${(confirmed / seconds).toFixed(0)} confirmations/s (each followed by plug-in + unplug), ` +
    `${((confirmed + failed) / seconds).toFixed(0)} requests/s (${failed} failed: no free slot), ` +
    `p50 ${ms(percentile(latencies, 50))} p99 ${ms(percentile(latencies, 99))}`,
  );
  await env.close();
}
console.log(`invariant free + booked + occupied = slots after every run: ${invariantOk ? 'held' : 'VIOLATED'}`);
process.exit(invariantOk ? 0 : 1);
