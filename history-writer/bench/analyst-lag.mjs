#!/usr/bin/env node
// Issue 19 §1: the pipeline's lag on the embedded database with and without analysts. On a private
// embedded TimescaleDB (its own server, port and data folder), the pricing worker and the history
// writer consume a steady stream (BENCH_RATE events/s for BENCH_SECONDS, 20 % charging samples)
// while, in turn: nobody else is connected; an analyst's psql sits open at its prompt; an analyst
// is busy (that psql, plus a query over the whole history every 2 s, plus a transaction opened and
// left, which the server cuts off after EMBEDDED_DB_IDLE_IN_TRANSACTION_MS). Each group's lag is
// sampled every 500 ms; printed as JSON lines and written to bench/results/analyst-lag-<time>.json.
//
//   flock /tmp/greenlane-bench.lock node history-writer/bench/analyst-lag.mjs
//
// Environment: BENCH_RATE [1000], BENCH_SECONDS [60], BENCH_CARS [500], BENCH_EMBEDDED_PORT [55496], KAFKA_BROKERS.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createKafka, createLogger } from '@greenlane/common';
import { waitFor } from '@greenlane/common/testing';
import { freePort, spawnProgram, withClient } from '@greenlane/common/testing-programs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const env = process.env;
const RATE = Number(env.BENCH_RATE ?? 1000);
const SECONDS = Number(env.BENCH_SECONDS ?? 60);
const CARS = Number(env.BENCH_CARS ?? 500);
const PORT = Number(env.BENCH_EMBEDDED_PORT ?? 55496);
const BROKERS = (env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const URL_ = `postgres://postgres@127.0.0.1:${PORT}/postgres`;
const kafka = createKafka({ brokers: BROKERS, clientId: 'analyst-lag', log: createLogger('analyst-lag', { LOG_LEVEL: 'error' }), quiet: true });
const say = (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();
const work = mkdtempSync(join(tmpdir(), 'analyst-lag-'));

/** A compiled program as a child process (killed at the end if still running). */
function spawnNode(script, childEnv) {
  const child = spawnProgram(script, { LOG_LEVEL: 'warn', ...childEnv });
  children.add(child.proc);
  child.proc.on('exit', () => children.delete(child.proc));
  return child;
}


async function lagOf(admin, topic, group) {
  const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: group, topics: [topic] })]);
  const at = new Map(committed.partitions.map((p) => [p.partition, Number(p.offset)]));
  return ends.reduce((n, p) => n + Math.max(0, Number(p.high) - Math.max(0, at.get(p.partition) ?? 0)), 0);
}

/** Event i of the stream: car i % CARS, its k-th sample; the last 20 of every 100 a charging stay. */
function event(i, start, topicTag) {
  const c = i % CARS;
  const k = Math.floor(i / CARS);
  const car = `LAG-${String(c).padStart(4, '0')}`;
  const timestamp = start + k * 2000 + c;
  const phase = k % 100;
  const e = { event_id: `${topicTag}-${i}`, event_type: 'telemetry', car_id: car, lat: 40.7 + (c % 100) / 1000, lon: -73.98, battery: 50, velocity: phase < 80 ? 30 : 0, timestamp };
  if (phase >= 80) Object.assign(e, { station_id: `ST-${c % 20}`, charging: true, charge_energy_kwh: (phase - 79) * 0.1, plugged_in_at: start + (k - phase + 80) * 2000 + c - 500 });
  return { key: car, value: JSON.stringify(e) };
}

async function scenario(name, gridUrl, analyst) {
  const tag = `lag-${name.replace(/\W+/g, '-')}-${Date.now().toString(36)}`;
  const schema = tag.replace(/-/g, '_');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: tag, numPartitions: 6 }], waitForLeaders: true });
  const setup = new pg.Client({ connectionString: URL_ });
  await setup.connect();
  await setup.query(`CREATE SCHEMA ${schema}`);
  await setup.end();
  const ports = [await freePort(), await freePort()];
  const common = { KAFKA_BROKERS: BROKERS.join(','), FLEET_EVENTS_TOPIC: tag, DATABASE_URL: URL_ };
  const pricing = spawnNode('pricing-worker/dist/src/main.js', { ...common, PRICING_GROUP_ID: `${tag}-pw`, PRICING_DLQ_TOPIC: `${tag}-dlq`, PRICING_DB_SCHEMA: schema, PRICING_HTTP_ADDR: `127.0.0.1:${ports[0]}`, GRID_URL: gridUrl, PRICING_POOL_SIZE: '1', PRICING_DB_ONE_CONNECTION: 'true' });
  const history = spawnNode('history-writer/dist/src/main.js', { ...common, HISTORY_GROUP_ID: `${tag}-hw`, HISTORY_DB_SCHEMA: schema, HISTORY_HTTP_ADDR: `127.0.0.1:${ports[1]}`, HISTORY_DB_CONNECTIONS: '1' });
  for (const port of ports) await waitFor('a service ready', async () => (await fetch(`http://127.0.0.1:${port}/ready`)).ok, 90_000);
  const stopAnalyst = await analyst(schema);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const samples = { pricing: [], history: [] };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = Date.now();
      samples.pricing.push(await lagOf(admin, tag, `${tag}-pw`));
      samples.history.push(await lagOf(admin, tag, `${tag}-hw`));
      await sleep(Math.max(0, 500 - (Date.now() - t)));
    }
  })();
  const start = Date.now() - 3600_000;
  const began = performance.now();
  const perTick = Math.round(RATE / 10);
  let sent = 0;
  for (let tick = 0; tick < SECONDS * 10; tick++) {
    const messages = [];
    for (let j = 0; j < perTick; j++) messages.push(event(sent++, start, tag));
    await producer.send({ topic: tag, acks: -1, messages });
    const wait = began + (tick + 1) * 100 - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const producedIn = (performance.now() - began) / 1000;
  const stopped = performance.now();
  await waitFor('both groups drained', async () => (await lagOf(admin, tag, `${tag}-pw`)) === 0 && (await lagOf(admin, tag, `${tag}-hw`)) === 0, 600_000);
  const drainS = (performance.now() - stopped) / 1000;
  sampling = false;
  await sampler;
  const analystReport = await stopAnalyst();
  await producer.disconnect();
  for (const s of [pricing, history]) s.proc.kill('SIGTERM');
  await Promise.all([pricing.exited, history.exited]);
  await admin.deleteTopics({ topics: [tag, `${tag}-dlq`] }).catch(() => undefined);
  await admin.disconnect();
  const summary = (xs) => ({ maxLag: Math.max(...xs), meanLag: Math.round(xs.reduce((a, b) => a + b, 0) / xs.length), p95Lag: [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] });
  return { scenario: name, events: sent, producedInS: +producedIn.toFixed(1), rate: RATE, pricing: summary(samples.pricing), history: summary(samples.history), drainAfterStopS: +drainS.toFixed(1), analyst: analystReport };
}

const nobody = async () => async () => ({});
const idlePsql = async () => {
  const psql = spawn('psql', [URL_, '-X'], { stdio: ['pipe', 'pipe', 'pipe'] });
  psql.stdin.write('SELECT 1;\n');
  await new Promise((r) => psql.stdout.once('data', r));
  return async () => {
    psql.stdin.end();
    psql.kill();
    return { psql: 'open at its prompt throughout' };
  };
};
const busyAnalyst = async (schema) => {
  const stopPsql = await idlePsql();
  const client = new pg.Client({ connectionString: URL_ });
  client.on('error', () => {});
  await client.connect();
  let stop = false;
  const times = [];
  const loop = (async () => {
    while (!stop) {
      const t = performance.now();
      await client.query(`SELECT car_id, sum(interval_s) FROM ${schema}.car_telemetry WHERE battery < 60 AND NOT charging GROUP BY car_id ORDER BY 2 DESC LIMIT 20`);
      times.push(performance.now() - t);
      await sleep(2000);
    }
  })();
  // A transaction opened and left, 10 s in: the server ends it at its idle-in-transaction limit.
  const abandoned = new pg.Client({ connectionString: URL_ });
  let cut = null;
  abandoned.on('error', (e) => (cut = e.code));
  await abandoned.connect();
  setTimeout(() => void abandoned.query('BEGIN').then(() => abandoned.query(`SELECT count(*) FROM ${schema}.car_telemetry`)).catch(() => undefined), 10_000);
  return async () => {
    stop = true;
    await loop;
    await client.end();
    await abandoned.end().catch(() => undefined);
    await stopPsql();
    times.sort((a, b) => a - b);
    return { psql: 'open', wholeHistoryQueries: times.length, queryMsP50: Math.round(times[Math.floor(times.length / 2)] ?? 0), queryMsMax: Math.round(times.at(-1) ?? 0), abandonedTransactionEndedWith: cut };
  };
};

const results = [];
const server = spawnNode('common/dist/src/embedded-db/server.js', { EMBEDDED_DB_DIR: join(work, 'db'), EMBEDDED_DB_PORT: String(PORT), LOG_LEVEL: 'info' });
const gridPort = await freePort();
const grid = spawnNode('grid-mock/dist/src/main.js', { GRID_ADDR: `127.0.0.1:${gridPort}` });
try {
  await waitFor('the private embedded database', async () => server.output().includes('embedded TimescaleDB ready'), 120_000);
  await waitFor('the grid mock', async () => (await fetch(`http://127.0.0.1:${gridPort}/health`)).ok, 30_000);
  for (const [name, analyst] of [['no analyst', nobody], ['idle psql open', idlePsql], ['busy analyst', busyAnalyst]]) {
    say(`scenario: ${name}`);
    const r = await scenario(name, `http://127.0.0.1:${gridPort}`, analyst);
    say(JSON.stringify(r));
    results.push(r);
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
  for (const r of results) process.stdout.write(JSON.stringify(r) + '\n');
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `analyst-lag-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ rate: RATE, seconds: SECONDS, cars: CARS, results }, null, 2));
  say(`results: ${file}`);
  process.exit(0);
}
