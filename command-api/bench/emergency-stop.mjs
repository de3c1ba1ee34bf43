#!/usr/bin/env node
// Emergency-stop latency under telemetry load, and what commands cost the telemetry.
//
// Two ingestion instances and the command API as processes (Redis and Kafka of `make up`), two
// load simulators (`--commands`: they declare the capability and answer each command accepted),
// BENCH_CARS cars (10000) split over the two instances, each sending one CarStatus a second.
//
//   1. telemetry alone for BENCH_SECONDS (30): the simulators' ack p99 and acked/s;
//   2. the same with BENCH_COMMAND_RATE emergency stops a second (100) to random cars: per command,
//      accepted → written on the car's stream (sent_at − issued_at, both the servers' clocks) and
//      accepted → the car's answer known at the API (the client's clock: from sending the POST to
//      the /wait long poll answering SUCCEEDED), p50/p99/p99.9, and the simulators' ack p99 again;
//   3. BENCH_OFFLINE (30) cars that are offline when the command is issued: from the reconnect to
//      the command arriving on the new stream.
// Prints a table and one JSON line; writes bench/results/commands-<time>.json.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata } from '@grpc/grpc-js';
import { FleetServiceClient } from '@greenlane/common/gen/fleet/fleet';
import { connectRedis, createLogger, DEVELOPMENT_OPERATOR_TOKEN } from '@greenlane/common';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const env = process.env;
const num = (name, fallback) => {
  const v = Number(env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, got ${env[name]}`);
  return v;
};
const CARS = num('BENCH_CARS', 10_000);
const SECONDS = num('BENCH_SECONDS', 30);
const COMMAND_RATE = num('BENCH_COMMAND_RATE', 100);
const OFFLINE = num('BENCH_OFFLINE', 30);
const WARMUP = num('BENCH_WARMUP', 10);
const REDIS_DB = 12;
/** BENCH_INGESTION_MAIN: another build's ingestion (e.g. a git worktree of an earlier commit), for a before/after. */
const INGESTION_MAIN = env.BENCH_INGESTION_MAIN ?? 'ingestion/dist/src/main.js';
const TOKEN = 'bench-vehicle-token';
const run = Date.now().toString(36);
const redisUrl = `${(env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/${REDIS_DB}`;
const brokers = env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const log = createLogger('command-bench', { LOG_LEVEL: 'error' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(name, script, args, childEnv) {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env: { ...env, LOG_LEVEL: 'warn', ...childEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out = (out + c).slice(-50_000)));
  child.stderr.on('data', (c) => (out = (out + c).slice(-50_000)));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, exited, output: () => out };
}

async function ready(url, proc) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited:\n${proc.output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`${proc.name} not ready:\n${proc.output()}`);
}

const quantiles = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => (s.length === 0 ? null : Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] * 10) / 10);
  return { n: s.length, p50: q(0.5), p99: q(0.99), p999: q(0.999), max: s.length ? Math.round(s[s.length - 1] * 10) / 10 : null };
};

const redis = await connectRedis(redisUrl, log);
await redis.flushDb();

const instances = [];
for (const id of ['bench-a', 'bench-b']) {
  const grpc = `127.0.0.1:${await freePort()}`;
  const http = `127.0.0.1:${await freePort()}`;
  const proc = start(`ingestion ${id}`, INGESTION_MAIN, [], {
    INGESTION_ADDR: grpc, INGESTION_HTTP_ADDR: http, REDIS_URL: redisUrl, KAFKA_BROKERS: brokers, FLEET_EVENTS_TOPIC: `bench-commands-events-${run}`,
    API_TOKENS: TOKEN, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0', INGESTION_BOOKINGS: 'false', INGESTION_INSTANCE_ID: id,
  });
  await ready(`http://${http}/ready`, proc);
  instances.push({ id, grpc, http, proc });
}
const apiAddr = `127.0.0.1:${await freePort()}`;
const api = `http://${apiAddr}`;
const apiProc = start('command API', 'command-api/dist/src/main.js', [], {
  COMMAND_API_ADDR: apiAddr, REDIS_URL: redisUrl, KAFKA_BROKERS: brokers, FLEET_COMMANDS_TOPIC: `bench-commands-${run}`, OPERATOR_TOKENS: DEVELOPMENT_OPERATOR_TOKEN,
  // One operator token issues every command of the bench (hundreds a second): no per-token limit.
  OPERATOR_RATE: '0',
});
await ready(`${api}/ready`, apiProc);
const auth = { authorization: `Bearer ${DEVELOPMENT_OPERATOR_TOKEN}`, 'content-type': 'application/json' };

/** Two load simulators, half the cars each, one message per car per second; resolves with their summaries. */
function telemetry(phase, seconds) {
  const half = Math.floor(CARS / 2);
  const sims = instances.map((inst, i) =>
    start(`simulator ${i}`, 'simulator/dist/src/main.js', [
      '--mode', 'load', '--json', '--commands', '--target', inst.grpc, '--token', TOKEN, '--cars', String(half), '--rate', String(half),
      '--duration', String(seconds), '--warmup', String(WARMUP), '--threads', '1', '--channels', '8', '--car-prefix', `${phase}-${i}-`,
    ]),
  );
  return {
    prefixes: instances.map((_, i) => `${phase}-${i}-`),
    done: Promise.all(sims.map(async (s) => {
      await s.exited;
      const line = s.output().trim().split('\n').reverse().find((l) => l.startsWith('{"mode":"load"'));
      if (!line) throw new Error(`${s.name} printed no summary:\n${s.output().slice(-2000)}`);
      return JSON.parse(line);
    })),
  };
}

const merge = (summaries) => ({
  ackedPerSec: summaries.reduce((n, s) => n + s.ackedPerSec, 0),
  ackP50Ms: Math.max(...summaries.map((s) => s.latencyMs.p50)),
  ackP99Ms: Math.max(...summaries.map((s) => s.latencyMs.p99)),
  failed: summaries.reduce((n, s) => n + s.failed, 0),
  commands: summaries.reduce((acc, s) => {
    for (const [k, v] of Object.entries(s.commands ?? {})) acc[k] = (acc[k] ?? 0) + v;
    return acc;
  }, {}),
});

async function activeStreams() {
  let n = 0;
  for (const inst of instances) {
    const text = await (await fetch(`http://${inst.http}/metrics`)).text();
    n += Number(/^ingestion_active_streams (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return n;
}

// 1. Telemetry alone.
const alone = telemetry('ALONE', SECONDS);
const aloneSummary = merge(await alone.done);

// 2. With commands.
const withCommands = telemetry('CMD', SECONDS);
while ((await activeStreams()) < CARS - 1) await sleep(200);
await sleep(WARMUP * 1000);
const toStream = [];
const toAnswer = [];
/** The stages (servers' wall clocks, one machine): POST → accepted, sent → the car's answer recorded, recorded → the long poll answered. */
const stages = { postToAccepted: [], carRoundTrip: [], recordedToAnswered: [] };
const outcomes = {};
const perCar = Math.floor(CARS / 2);
const interval = 1000 / COMMAND_RATE;
const commandSeconds = Math.max(1, SECONDS - WARMUP - 5);
const inFlight = [];
const startedAt = performance.now();
for (let i = 0; performance.now() - startedAt < commandSeconds * 1000; i++) {
  const due = startedAt + i * interval;
  const wait = due - performance.now();
  if (wait > 0) await sleep(wait);
  const side = i % 2;
  // The simulator names its cars like carId() of simulator/src/car/model.ts: 1-based, 3 digits at least.
  const car = `${withCommands.prefixes[side]}${String(1 + Math.floor(Math.random() * perCar)).padStart(3, "0")}`;
  inFlight.push((async () => {
    const t0 = performance.now();
    const wall0 = Date.now();
    const res = await fetch(`${api}/v1/cars/${car}/commands`, { method: 'POST', headers: auth, body: JSON.stringify({ type: 'EMERGENCY_STOP' }) });
    const issued = await res.json();
    if (res.status !== 202) return void (outcomes[`http_${res.status}`] = (outcomes[`http_${res.status}`] ?? 0) + 1);
    let done;
    do done = await (await fetch(`${api}/v1/commands/${issued.command_id}/wait?timeout_ms=30000`, { headers: auth })).json();
    while (!done.final);
    outcomes[done.status] = (outcomes[done.status] ?? 0) + 1;
    if (done.status === 'SUCCEEDED') {
      toAnswer.push(performance.now() - t0);
      stages.postToAccepted.push(done.issued_at - wall0);
      stages.carRoundTrip.push(done.delivered_at - done.sent_at);
      stages.recordedToAnswered.push(Date.now() - done.delivered_at);
      toStream.push(done.sent_at - done.issued_at);
    }
  })());
}
const commandsSent = inFlight.length;
await Promise.all(inFlight);
const commandWindow = (performance.now() - startedAt) / 1000;
const withSummary = merge(await withCommands.done);

// 3. Offline cars: issue while away, then reconnect and time the command's arrival.
const reconnectToDelivery = [];
for (let i = 0; i < OFFLINE; i++) {
  const carId = `OFFLINE-${run}-${i}`;
  const target = instances[i % 2].grpc;
  const open = () => {
    const client = new FleetServiceClient(target, credentials.createInsecure());
    const md = new Metadata();
    md.set('x-api-token', TOKEN);
    md.set('x-greenlane-capabilities', 'commands');
    const call = client.streamTelemetry(md);
    call.on('error', () => undefined);
    return { client, call };
  };
  const statusOf = () => ({ carId, latitude: 40.75, longitude: -73.98, batteryLevel: 50, velocity: 0, timestamp: Date.now(), stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined });
  let s = open();
  await new Promise((resolve) => { s.call.once('data', resolve); s.call.write(statusOf()); });
  s.call.cancel();
  s.client.close();
  while ((await redis.get(`car:${carId}:stream`)) !== null) await sleep(5);
  const res = await fetch(`${api}/v1/cars/${carId}/commands`, { method: 'POST', headers: auth, body: JSON.stringify({ type: 'EMERGENCY_STOP' }) });
  if (res.status !== 202) throw new Error(`offline command refused: ${res.status} ${await res.text()}`);
  s = open();
  const t0 = performance.now();
  await new Promise((resolve) => {
    s.call.on('data', (r) => { if (r.command !== undefined) resolve(); });
    s.call.write(statusOf());
  });
  reconnectToDelivery.push(performance.now() - t0);
  s.call.cancel();
  s.client.close();
}

const result = {
  at: new Date().toISOString(), bench: 'commands', cars: CARS, instances: 2, telemetryPerSec: CARS, seconds: SECONDS,
  commandRate: Math.round((commandsSent / commandWindow) * 10) / 10, commandsSent, outcomes,
  acceptedToWrittenMs: quantiles(toStream), acceptedToAnsweredMs: quantiles(toAnswer),
  offlineReconnectToDeliveryMs: quantiles(reconnectToDelivery),
  stagesMs: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, quantiles(v)])),
  telemetryAlone: aloneSummary, telemetryWithCommands: withSummary,
  ingestion: INGESTION_MAIN,
  note: env.BENCH_NOTE ?? 'shared 2-core machine; every process on the same 2 cores',
};
console.log(`${CARS} cars over 2 ingestion instances, ${CARS} CarStatus/s; emergency stops at ${result.commandRate}/s (${commandsSent} sent): ${JSON.stringify(outcomes)}`);
console.log(`  accepted → written on the car's stream  ms: p50 ${result.acceptedToWrittenMs.p50}  p99 ${result.acceptedToWrittenMs.p99}  p99.9 ${result.acceptedToWrittenMs.p999}  max ${result.acceptedToWrittenMs.max}`);
console.log(`  accepted → car's answer known at the API ms: p50 ${result.acceptedToAnsweredMs.p50}  p99 ${result.acceptedToAnsweredMs.p99}  p99.9 ${result.acceptedToAnsweredMs.p999}  max ${result.acceptedToAnsweredMs.max}  (target p99 ≤ 50: ${result.acceptedToAnsweredMs.p99 !== null && result.acceptedToAnsweredMs.p99 <= 50 ? 'met' : 'NOT met'})`);
console.log(`  stages (p50/p99 ms): POST → accepted ${result.stagesMs.postToAccepted.p50}/${result.stagesMs.postToAccepted.p99}, sent → car's answer recorded ${result.stagesMs.carRoundTrip.p50}/${result.stagesMs.carRoundTrip.p99}, recorded → long poll answered ${result.stagesMs.recordedToAnswered.p50}/${result.stagesMs.recordedToAnswered.p99}`);
console.log(`  offline car, reconnect → command on the stream ms: p50 ${result.offlineReconnectToDeliveryMs.p50}  p99 ${result.offlineReconnectToDeliveryMs.p99}  max ${result.offlineReconnectToDeliveryMs.max} (${OFFLINE} cars)`);
console.log(`  telemetry alone:         acked ${aloneSummary.ackedPerSec}/s, ack p50 ${aloneSummary.ackP50Ms} p99 ${aloneSummary.ackP99Ms} ms, failed ${aloneSummary.failed}`);
console.log(`  telemetry with commands: acked ${withSummary.ackedPerSec}/s, ack p50 ${withSummary.ackP50Ms} p99 ${withSummary.ackP99Ms} ms, failed ${withSummary.failed}; cars: ${JSON.stringify(withSummary.commands)}`);
console.log(JSON.stringify(result));
mkdirSync(`${ROOT}bench/results`, { recursive: true });
const file = `${ROOT}bench/results/commands-${result.at.replace(/[:.]/g, '-')}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 1)}\n`);
console.log(`results: ${file}`);

for (const p of [...instances.map((i) => i.proc), apiProc]) p.child.kill('SIGTERM');
await Promise.all([...instances.map((i) => i.proc), apiProc].map((p) => p.exited));
await redis.flushDb();
await redis.quit();
process.exit(0);
