#!/usr/bin/env node
// Alert engine throughput on one core, every rule on: a backlog of BENCH_EVENTS telemetry events
// (BENCH_CARS cars, 2 s apart per car: driving at 0-60 km/h with 3 % of the cars speeding above
// 100 km/h in stretches, batteries draining through 20 % and 15 %, 10 % of the cars charging of
// which a third with a stalled meter, 2 % driving out of Manhattan, plus a car_offline and a
// booking_expired per 100 cars) on a topic of its own (6 partitions), drained by the compiled
// engine (a new consumer group, fresh Redis state under a prefix of its own in DB 13), pinned to
// one CPU with taskset where it exists. Events/s from the engine's first committed batch to the
// last (its start-up excluded), read from its /metrics every 50 ms.
//
//   flock /tmp/greenlane-bench.lock npm run bench -w alert-engine
//
// Environment (defaults in brackets): BENCH_EVENTS [200000], BENCH_CARS [2000], BENCH_CPU [0],
// BENCH_NODE_ARGS [none: e.g. --cpu-prof], BENCH_DATABASE_URL [the embedded TimescaleDB, in a schema of its own], KAFKA_BROKERS
// [127.0.0.1:19092], REDIS_URL [redis://127.0.0.1:6379, DB 13 used]; any ALERT_* variable reaches the engine.
// ALERT_STALL_MINUTES is 1 by default here (the backlog spans 200 s of car time per car), so that
// charging_stalled fires too. Writes bench/results/alerts-<time>.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Partitioners } from 'kafkajs';
import { createClient } from 'redis';
import { createKafka, createLogger, DEFAULTS } from '@greenlane/common';
import { waitFor } from '@greenlane/common/testing';
import { freePort } from '@greenlane/common/testing-programs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const env = process.env;
const EVENTS = Number(env.BENCH_EVENTS ?? 200_000);
const CARS = Number(env.BENCH_CARS ?? 2000);
const CPU = env.BENCH_CPU ?? '0';
const BROKERS = (env.KAFKA_BROKERS ?? DEFAULTS.KAFKA_BROKERS).split(',');
const redisUrl = (() => {
  const u = new URL(env.REDIS_URL ?? DEFAULTS.REDIS_URL);
  u.pathname = '/13';
  return u.toString();
})();
const DB_URL = env.BENCH_DATABASE_URL ?? DEFAULTS.EMBEDDED_DATABASE_URL;
const runId = Date.now().toString(36);
const topic = `bench-alerts-${runId}`;
const prefix = `bench-alerts-${runId}:`;
const schema = `bench_alerts_${runId}`;
const kafka = createKafka({ brokers: BROKERS, clientId: 'alert-bench', log: createLogger('alert-bench', { LOG_LEVEL: 'error' }), quiet: true });
const say = (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** A deterministic pseudo-random generator (mulberry32), so every run sends the same backlog. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function* backlog() {
  const rnd = random(42);
  const perCar = Math.ceil(EVENTS / CARS);
  const t0 = Date.now() - perCar * 2000 - 60_000;
  const cars = Array.from({ length: CARS }, (_, i) => {
    const kind = rnd();
    return {
      id: `BENCH-${String(i).padStart(5, '0')}`,
      lat: 40.73 + rnd() * 0.06, lon: -73.995 + rnd() * 0.02,
      battery: 12 + rnd() * 60,
      speeding: kind < 0.03, charging: kind >= 0.03 && kind < 0.13, stalled: kind >= 0.03 && kind < 0.063, leaving: kind >= 0.13 && kind < 0.15,
      meter: 0,
    };
  });
  let n = 0;
  for (let s = 0; s < perCar && n < EVENTS; s++) {
    for (const car of cars) {
      if (n >= EVENTS) break;
      const ts = t0 + s * 2000;
      let velocity = rnd() * 60;
      if (car.speeding && s % 40 < 20) velocity = 105 + rnd() * 20;
      if (car.leaving) car.lon -= 0.0004;
      const e = { event_type: 'telemetry', event_id: `${car.id}-${ts}`, car_id: car.id, lat: car.lat, lon: car.lon, battery: Math.round(car.battery * 10) / 10, velocity: Math.round(velocity * 10) / 10, timestamp: ts };
      if (car.charging) {
        if (!car.stalled || s < 5) car.meter += 0.01;
        Object.assign(e, { station_id: 'ST-BENCH', charging: true, charge_energy_kwh: Math.round(car.meter * 1000) / 1000, plugged_in_at: t0, velocity: 0 });
        car.battery = Math.min(100, car.battery + 0.05);
      } else car.battery = Math.max(0, car.battery - 0.05);
      n++;
      yield { key: car.id, value: JSON.stringify(e) };
      if (s === 10 && Number(car.id.slice(6)) % 100 === 0 && n < EVENTS) {
        n++;
        yield { key: car.id, value: JSON.stringify({ event_type: 'car_offline', event_id: `off-${car.id}`, car_id: car.id, timestamp: ts + 1, instance: 'bench', reason: 'timeout', last_seen: ts }) };
      }
      if (s === 12 && Number(car.id.slice(6)) % 100 === 50 && n < EVENTS) {
        n++;
        yield { key: car.id, value: JSON.stringify({ event_type: 'booking_expired', event_id: `booking_expired:BK-${car.id}`, car_id: car.id, booking_id: `BK-${car.id}`, station_id: 'ST-B', price_rate: 0.3, timestamp: ts + 1, message: 'expired' }) };
      }
    }
  }
}

async function metric(port, name, match = '') {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !(line[name.length] === ' ' || line[name.length] === '{')) continue;
    if (match && !line.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const db = new pg.Client({ connectionString: DB_URL });
let engine;
const redis = createClient({ url: redisUrl });
try {
  await db.connect();
  await db.query(`CREATE SCHEMA ${schema}`);
  await redis.connect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }, { topic: `${topic}-alerts`, numPartitions: 6 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  say(`producing ${EVENTS} events of ${CARS} cars to ${topic}`);
  let chunk = [];
  let produced = 0;
  for (const m of backlog()) {
    chunk.push(m);
    if (chunk.length === 5000) {
      await producer.send({ topic, acks: -1, compression: 0, messages: chunk });
      produced += chunk.length;
      chunk = [];
    }
  }
  if (chunk.length > 0) await producer.send({ topic, acks: -1, messages: chunk });
  produced += chunk.length;
  await producer.disconnect();

  const port = await freePort();
  const loadBefore = loadavg()[0];
  const pin = spawnSync('taskset', ['--version']).status === 0 ? ['taskset', '-c', CPU] : [];
  const argv = [...pin, process.execPath, ...(env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), 'alert-engine/dist/src/main.js'];
  say(`draining with ${pin.length > 0 ? `taskset -c ${CPU} ` : ''}the engine (all rules on)`);
  engine = spawn(argv[0], argv.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...env, LOG_LEVEL: 'warn', KAFKAJS_NO_PARTITIONER_WARNING: '1',
      KAFKA_BROKERS: BROKERS.join(','), FLEET_EVENTS_TOPIC: topic, FLEET_ALERTS_TOPIC: `${topic}-alerts`, ALERT_GROUP_ID: `bench-${runId}`,
      ALERT_STALL_MINUTES: env.ALERT_STALL_MINUTES ?? '1', ALERT_FROM_BEGINNING: 'true', REDIS_URL: redisUrl, ALERT_REDIS_PREFIX: prefix, DATABASE_URL: DB_URL, ALERT_DB_SCHEMA: schema, ALERT_ADDR: `127.0.0.1:${port}`,
    },
  });
  const consumed = async () => (await metric(port, 'alert_events_consumed_total')) + (await metric(port, 'alert_events_skipped_total', 'reason="malformed"'));
  await waitFor('the engine to answer', async () => (await fetch(`http://127.0.0.1:${port}/ready`)).ok, 90_000, 50);
  let first;
  let firstCount = 0;
  await waitFor('the first batch', async () => {
    const n = await consumed();
    if (n === 0) return false;
    first = process.hrtime.bigint();
    firstCount = n;
    return true;
  }, 60_000, 5);
  let last = first;
  await waitFor('the backlog drained', async () => {
    const n = await consumed();
    last = process.hrtime.bigint();
    return n >= produced;
  }, 600_000, 50);
  const seconds = Number(last - first) / 1e9;
  const rate = (produced - firstCount) / seconds;
  const transitions = {};
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  for (const m of text.matchAll(/^alert_transitions_total\{rule="([^"]+)",transition="([^"]+)"\} (\d+)/gm)) transitions[`${m[1]}:${m[2]}`] = Number(m[3]);
  const batch = { sum: await metric(port, 'alert_batch_duration_seconds_sum'), count: await metric(port, 'alert_batch_duration_seconds_count') };
  const rows = Number((await db.query(`SELECT count(*) AS n FROM ${schema}.fleet_alerts`)).rows[0].n);
  const result = {
    bench: 'alert-engine throughput', at: new Date().toISOString(), commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(),
    events: produced, cars: CARS, partitions: 6, pinned_cpu: pin.length > 0 ? CPU : null, cpu: cpus()[0]?.model, node: process.version,
    database: DB_URL.includes(':55433') ? 'embedded TimescaleDB' : 'DATABASE_URL',
    seconds: Math.round(seconds * 1000) / 1000, events_per_s: Math.round(rate), batches: batch.count, mean_batch_ms: Math.round((batch.sum / batch.count) * 10000) / 10,
    load_average_1m: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadavg()[0] * 100) / 100 }, cores: cpus().length,
    alert_events: Object.values(transitions).reduce((a, b) => a + b, 0), fleet_alerts_rows: rows, transitions,
  };
  console.log(`alert engine, one core, every rule on: ${produced} events (${CARS} cars) in ${result.seconds} s = ${result.events_per_s} events/s`);
  console.log(`  load average ${result.load_average_1m.before} → ${result.load_average_1m.after} on ${result.cores} cores (a shared machine: the figure moves with it)`);
  console.log(`  ${result.batches} batches, mean ${result.mean_batch_ms} ms; ${result.alert_events} alert events, ${rows} rows in fleet_alerts`);
  console.log(`  ${Object.entries(transitions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
  const file = new URL(`../../bench/results/alerts-${result.at.replace(/[:.]/g, '-')}.json`, import.meta.url);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`  written to ${fileURLToPath(file).slice(ROOT.length)}`);
} finally {
  engine?.kill('SIGTERM');
  if (engine) await new Promise((resolve) => engine.once('exit', resolve));
  for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length > 0) await redis.del(keys);
  await redis.quit().catch(() => undefined);
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await db.end().catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, `${topic}-alerts`] }).catch(() => undefined);
  await admin.disconnect();
}
