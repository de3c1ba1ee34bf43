#!/usr/bin/env node
// Alert latency end to end: a CarStatus sent → its alert on fleet-alerts, with the simulator's load
// mode sending BENCH_RATE (10,000) CarStatus/s through the ingestion beside it (so the engine
// evaluates every rule on all of them: load cars wander over the CONTRACTS.md box and drain their
// batteries, raising alerts of their own). Four probe cars stream through the same ingestion,
// every BENCH_PROBE_MS (200) one CarStatus whose battery alternates 50 % / 10 %: each one raises or
// clears battery_low. Latency = the alert's arrival at a reader of fleet-alerts minus the probe's
// send time (same machine, same clock); p50/p99/max over the run, the first BENCH_WARMUP (10) s
// left out; the same split at the probes' arrival on fleet-events (sent → on the topic: the
// ingestion; on the topic → alert: the engine). All processes run unpinned on this machine; Redis DB 13 (the alert engine's tests and
// benches) is emptied at the end.
//
//   flock /tmp/greenlane-bench.lock node alert-engine/bench/latency.mjs
//
// Environment (defaults in brackets): BENCH_RATE [10000], BENCH_SECONDS [60], BENCH_CARS [1000],
// BENCH_PROBE_MS [200], BENCH_WARMUP [10], BENCH_DATABASE_URL [the embedded TimescaleDB, a schema of its own].
// Writes bench/results/alerts-latency-<time>.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient } from 'redis';
import { createKafka, createLogger, DEFAULTS, ensureTopics } from '@greenlane/common';
import { waitFor } from '@greenlane/common/testing';
import { freePort } from '@greenlane/common/testing-programs';
import { createFleetClient, tokenMetadata } from '../../simulator/dist/src/grpc-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const env = process.env;
const RATE = Number(env.BENCH_RATE ?? 10_000);
const SECONDS = Number(env.BENCH_SECONDS ?? 60);
const CARS = Number(env.BENCH_CARS ?? 1000);
const PROBE_MS = Number(env.BENCH_PROBE_MS ?? 200);
const WARMUP_MS = Number(env.BENCH_WARMUP ?? 10) * 1000;
const BROKERS = (env.KAFKA_BROKERS ?? DEFAULTS.KAFKA_BROKERS).split(',');
const redisUrl = (() => {
  const u = new URL(env.REDIS_URL ?? DEFAULTS.REDIS_URL);
  u.pathname = '/13';
  return u.toString();
})();
const DB_URL = env.BENCH_DATABASE_URL ?? DEFAULTS.EMBEDDED_DATABASE_URL;
const runId = Date.now().toString(36);
const topic = `bench-alert-latency-${runId}`;
const alertsTopic = `${topic}-alerts`;
const schema = `bench_alert_latency_${runId}`;
const token = 'alert-latency-bench-token';
const kafka = createKafka({ brokers: BROKERS, clientId: 'alert-latency-bench', log: createLogger('alert-latency-bench', { LOG_LEVEL: 'error' }), quiet: true });
const say = (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const programs = [];

function start(name, file, extraEnv, args = []) {
  mkdirSync(join(ROOT, '.cache', 'logs'), { recursive: true });
  const child = spawn(process.execPath, [join(ROOT, file), ...args], { env: { ...env, LOG_LEVEL: 'warn', KAFKAJS_NO_PARTITIONER_WARNING: '1', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  child.on('exit', () => writeFileSync(join(ROOT, '.cache', 'logs', `bench-alert-latency-${name}.log`), out));
  const p = { name, child, output: () => out };
  programs.push(p);
  return p;
}

async function ready(url, p) {
  await waitFor(`${p.name} ready`, async () => {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited ${p.child.exitCode}:\n${p.output()}`);
    return (await fetch(url)).ok;
  }, 90_000, 200);
}

const percentile = (sorted, p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);

const db = new pg.Client({ connectionString: DB_URL });
const redis = createClient({ url: redisUrl });
let reader;
let eventsReader;
try {
  await db.connect();
  await db.query(`CREATE SCHEMA ${schema}`);
  await redis.connect();
  await ensureTopics(kafka, [{ topic, numPartitions: 6 }, { topic: alertsTopic, numPartitions: 6 }]);
  const [grpcPort, ingestionOps, enginePort] = await Promise.all([freePort(), freePort(), freePort()]);
  const common = { KAFKA_BROKERS: BROKERS.join(','), FLEET_EVENTS_TOPIC: topic, REDIS_URL: redisUrl };
  const ingestion = start('ingestion', 'ingestion/dist/src/main.js', { ...common, INGESTION_ADDR: `127.0.0.1:${grpcPort}`, INGESTION_HTTP_ADDR: `127.0.0.1:${ingestionOps}`, API_TOKENS: token, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0' });
  await ready(`http://127.0.0.1:${ingestionOps}/ready`, ingestion);
  const engine = start('alert-engine', 'alert-engine/dist/src/main.js', {
    ...common, FLEET_ALERTS_TOPIC: alertsTopic, ALERT_GROUP_ID: `bench-${runId}`, ALERT_REDIS_PREFIX: `bench-${runId}:`,
    DATABASE_URL: DB_URL, ALERT_DB_SCHEMA: schema, ALERT_ADDR: `127.0.0.1:${enginePort}`,
  });
  await ready(`http://127.0.0.1:${enginePort}/ready`, engine);

  const sentAt = new Map(); // `${car} ${timestamp}` → performance.now() at send
  const onTopic = new Map(); // `${car} ${timestamp}` → performance.now() when read on fleet-events
  const latencies = [];
  const ingestionPart = [];
  const enginePart = [];
  let measureFrom = Infinity;
  let received = 0;
  reader = kafka.consumer({ groupId: `bench-reader-${runId}`, maxWaitTimeInMs: 50 });
  await reader.connect();
  await reader.subscribe({ topic: alertsTopic, fromBeginning: true });
  await reader.run({
    eachBatch: async ({ batch }) => {
      const now = performance.now();
      for (const m of batch.messages) {
        received++;
        const e = JSON.parse(m.value.toString());
        if (!e.car_id.startsWith('PROBE-') || e.rule !== 'battery_low') continue;
        const key = `${e.car_id} ${e.at}`;
        const t = sentAt.get(key);
        if (t === undefined) continue;
        sentAt.delete(key);
        const seen = onTopic.get(key);
        onTopic.delete(key);
        if (t >= measureFrom) {
          latencies.push(now - t);
          if (seen !== undefined) {
            ingestionPart.push(seen - t);
            enginePart.push(now - seen);
          }
        }
      }
    },
  });
  // The probes' CarStatus on fleet-events, to split the latency: sent → on the topic (the
  // ingestion), on the topic → alert (the engine). Only the keys are looked at.
  const probeKey = Buffer.from('PROBE-');
  eventsReader = kafka.consumer({ groupId: `bench-events-reader-${runId}`, maxWaitTimeInMs: 50 });
  await eventsReader.connect();
  await eventsReader.subscribe({ topic, fromBeginning: false });
  await eventsReader.run({
    eachBatch: async ({ batch }) => {
      const now = performance.now();
      for (const m of batch.messages) {
        if (m.key === null || m.key.length < 6 || m.key.compare(probeKey, 0, 6, 0, 6) !== 0) continue;
        const e = JSON.parse(m.value.toString());
        onTopic.set(`${e.car_id} ${e.timestamp}`, now);
      }
    },
  });
  await sleep(2000);

  const client = createFleetClient(`127.0.0.1:${grpcPort}`, 9999);
  const probes = Array.from({ length: 4 }, (_, i) => {
    const call = client.streamTelemetry(tokenMetadata(token));
    call.on('data', () => {});
    call.on('error', () => {});
    return { carId: `PROBE-${i}-${runId}`, call, low: false };
  });
  let lastTs = 0;
  let k = 0;
  let probesSent = 0;
  const sender = setInterval(() => {
    const p = probes[k++ % probes.length];
    p.low = !p.low;
    const timestamp = Math.max(Date.now(), lastTs + 1);
    lastTs = timestamp;
    sentAt.set(`${p.carId} ${timestamp}`, performance.now());
    probesSent++;
    p.call.write({ carId: p.carId, latitude: 40.758, longitude: -73.9855, batteryLevel: p.low ? 10 : 50, velocity: 20, timestamp, stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined });
  }, PROBE_MS / probes.length);

  const loadBefore = loadavg()[0];
  say(`simulator load: ${RATE} CarStatus/s, ${CARS} cars, ${SECONDS} s (+ probes every ${PROBE_MS} ms)`);
  measureFrom = performance.now() + WARMUP_MS;
  const simulator = start('simulator', 'simulator/dist/src/main.js', { API_TOKEN: token }, [
    '--mode', 'load', '--target', `127.0.0.1:${grpcPort}`, '--cars', String(CARS), '--rate', String(RATE), '--duration', String(SECONDS + WARMUP_MS / 1000), '--json', '--seed', '7',
  ]);
  await new Promise((resolve) => simulator.child.once('exit', resolve));
  clearInterval(sender);
  for (const p of probes) p.call.end();
  await waitFor('the last probes\' alerts', () => [...sentAt.values()].every((t) => t < measureFrom) || sentAt.size === 0, 30_000, 100).catch(() => undefined);
  client.close();
  const loadAfter = loadavg()[0];
  const summary = JSON.parse(simulator.output().trim().split('\n').filter((l) => l.startsWith('{"mode"')).pop() ?? '{}');
  const sorted = latencies.sort((a, b) => a - b);
  const round = (v) => (v === null ? null : Math.round(v * 10) / 10);
  const metrics = await (await fetch(`http://127.0.0.1:${enginePort}/metrics`)).text();
  const consumed = [...metrics.matchAll(/^alert_events_consumed_total\{type="([^"]+)"\} (\d+)/gm)].reduce((n, m) => n + Number(m[2]), 0);
  const result = {
    bench: 'alert latency, CarStatus sent → alert on fleet-alerts', at: new Date().toISOString(),
    commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(),
    rate: RATE, seconds: SECONDS, warmup_s: WARMUP_MS / 1000, cars: CARS, probe_ms: PROBE_MS,
    simulator: { acked_per_s: summary.ackedPerSec ?? null, ack_latency_ms: summary.latencyMs ?? null },
    probes_sent: probesSent, alerts_measured: sorted.length, probes_without_alert: sentAt.size,
    latency_ms: { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? null) },
    split_ms: Object.fromEntries([['sent_to_fleet_events', ingestionPart], ['fleet_events_to_alert', enginePart]].map(([name, values]) => {
      const v = values.sort((a, b) => a - b);
      return [name, { p50: round(percentile(v, 50)), p99: round(percentile(v, 99)), n: v.length }];
    })),
    engine_events_consumed: consumed, alert_events_on_topic: received,
    load_average_1m: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadAfter * 100) / 100 }, cores: cpus().length, node: process.version,
  };
  console.log(`alert latency at ${RATE} CarStatus/s (${CARS} load cars, ${SECONDS} s after ${WARMUP_MS / 1000} s warm-up): p50 ${result.latency_ms.p50} ms, p90 ${result.latency_ms.p90} ms, p99 ${result.latency_ms.p99} ms, max ${result.latency_ms.max} ms over ${sorted.length} probe alerts`);
  console.log(`  sent → on fleet-events (ingestion): p50 ${result.split_ms.sent_to_fleet_events.p50} ms, p99 ${result.split_ms.sent_to_fleet_events.p99} ms; fleet-events → alert (engine): p50 ${result.split_ms.fleet_events_to_alert.p50} ms, p99 ${result.split_ms.fleet_events_to_alert.p99} ms`);
  console.log(`  the simulator's acknowledged rate: ${result.simulator.acked_per_s} CarStatus/s`);
  console.log(`  the engine consumed ${consumed} events and sent ${received} alert events; load average ${result.load_average_1m.before} → ${result.load_average_1m.after} on ${result.cores} cores`);
  mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
  const file = new URL(`../../bench/results/alerts-latency-${result.at.replace(/[:.]/g, '-')}.json`, import.meta.url);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`  written to ${fileURLToPath(file).slice(ROOT.length)}`);
} finally {
  await reader?.disconnect().catch(() => undefined);
  await eventsReader?.disconnect().catch(() => undefined);
  for (const p of [...programs].reverse()) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await Promise.all(programs.map((p) => (p.child.exitCode === null ? new Promise((r) => p.child.once('exit', r)) : null)));
  await redis.flushDb().catch(() => undefined);
  await redis.quit().catch(() => undefined);
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await db.end().catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, alertsTopic] }).catch(() => undefined);
  await admin.disconnect();
}
