#!/usr/bin/env node
// Analytics API latency: p50/p95 of each endpoint over generated history (history.mjs: BENCH_CARS
// cars x BENCH_DAYS days at one sample per car per minute), on PostgreSQL 15 and on a private
// embedded TimescaleDB (its own server process, port and data folder, so the shared one is never
// loaded), each first alone and then with a writer inserting BENCH_WRITE_RATE rows/s into
// car_telemetry (the history writer's own INSERT). The API runs as its program; requests go over
// HTTP one at a time. Prints one JSON line per target and phase and writes them all to
// bench/results/analytics-api-<time>.json. Bench data is dropped at the end.
//
//   flock /tmp/greenlane-bench.lock npm run bench -w analytics-api
//
// Environment (defaults in brackets):
//   BENCH_TARGETS       postgres, embedded, or both [postgres,embedded]
//   BENCH_CARS          cars on PostgreSQL [1000]          BENCH_DAYS  days of history [30]
//   BENCH_EMBEDDED_CARS cars on the embedded database, comma-separated sizes tried in turn [25,100]
//   BENCH_REQUESTS      requests per endpoint [40]          BENCH_WRITE_RATE  rows/s of the writer [5000]
//   BENCH_POSTGRES_URL  [postgres://postgres@127.0.0.1:55432/postgres]   BENCH_EMBEDDED_PORT [55498]
//   BENCH_POSTGRES_DB   a database to keep for the next run [unset: a new one, dropped at the end]. When it
//                       already holds this bench's history (table bench_history: same cars and days) the
//                       generation is skipped and that history is measured (its own end time); the rows the
//                       writer phase added are deleted at the end, so the next run finds the same history.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createLogger, migrate, migrateTelemetry } from '@greenlane/common';
import { waitFor } from '@greenlane/common/testing';
import { freePort, spawnProgram, withClient } from '@greenlane/common/testing-programs';
import { insertRows } from '../../history-writer/dist/src/writer.js';
import { DAY_MINUTES, chargingDay, telemetryDay } from './history.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const env = process.env;
const TARGETS = (env.BENCH_TARGETS ?? 'postgres,embedded').split(',');
const CARS = Number(env.BENCH_CARS ?? 1000);
const DAYS = Number(env.BENCH_DAYS ?? 30);
const EMBEDDED_CARS = (env.BENCH_EMBEDDED_CARS ?? '25,100').split(',').map(Number);
const REQUESTS = Number(env.BENCH_REQUESTS ?? 40);
const WRITE_RATE = Number(env.BENCH_WRITE_RATE ?? 5000);
const ADMIN_URL = env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:55432/postgres';
const EMBEDDED_PORT = Number(env.BENCH_EMBEDDED_PORT ?? 55498);
const KEEP_DB = env.BENCH_POSTGRES_DB;
if (KEEP_DB !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(KEEP_DB)) throw new Error('BENCH_POSTGRES_DB: a lower-case SQL identifier');
const TOKEN = 'bench-operator-token';
const log = createLogger('analytics-bench', { LOG_LEVEL: 'error' });
const say = (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const children = new Set();
const results = [];
// The history ends at the last whole hour, so the range "the last 30 days" is all history.
// A kept database keeps the end time it was generated with.
let END_MS = Math.floor(Date.now() / 3_600_000) * 3_600_000;
const RUN_ID = Date.now().toString(36);

/** A compiled program as a child process (killed at the end if still running). */
function spawnNode(script, childEnv) {
  const child = spawnProgram(script, { LOG_LEVEL: 'warn', ...childEnv });
  children.add(child.proc);
  child.proc.on('exit', () => children.delete(child.proc));
  return child;
}



/** Generates the history a day at a time; returns rows and seconds. */
async function generate(url, cars, timescale) {
  const started = performance.now();
  await withClient(url, async (c) => {
    await migrate(c, log);
    await migrateTelemetry(c, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
    for (let d = DAYS; d >= 1; d--) {
      const dayStart = END_MS - d * 86_400_000;
      await c.query(telemetryDay(dayStart, cars));
      await c.query(chargingDay(dayStart, cars));
      if (d % 5 === 0) say(`  ${DAYS - d + 1}/${DAYS} days generated (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
    // A month-old history has long been vacuumed (autovacuum): done here, not during the measurements.
    await c.query('VACUUM (ANALYZE) car_telemetry');
    await c.query('VACUUM (ANALYZE) charging_sessions');
    await c.query('CREATE TABLE IF NOT EXISTS bench_history (cars int NOT NULL, days int NOT NULL, end_ms bigint NOT NULL)');
    await c.query('INSERT INTO bench_history VALUES ($1, $2, $3)', [cars, DAYS, END_MS]);
    if (timescale) {
      // No job scheduler on the embedded database: the aggregates are refreshed here, as the history writer would.
      await c.query('CALL refresh_continuous_aggregate(\'car_telemetry_1m\', NULL, NULL)');
      await c.query('CALL refresh_continuous_aggregate(\'fleet_telemetry_1h\', NULL, NULL)');
    }
  });
  return { rows: cars * DAYS * DAY_MINUTES, seconds: (performance.now() - started) / 1000 };
}

const iso = (ms) => new Date(ms).toISOString();
function endpoints(cars) {
  const car = () => `CAR-${String(Math.floor(Math.random() * cars)).padStart(5, '0')}`;
  const month = `from=${iso(END_MS - DAYS * 86_400_000)}&to=${iso(END_MS)}`;
  const day = `from=${iso(END_MS - 86_400_000)}&to=${iso(END_MS)}`;
  return [
    ['series battery, 30 days, 1h buckets', () => `/api/v1/cars/${car()}/series?metric=battery&bucket=1h&${month}`],
    ['series velocity, 1 day, 1m buckets', () => `/api/v1/cars/${car()}/series?metric=velocity&bucket=1m&${day}`],
    ['trips, 30 days', () => `/api/v1/cars/${car()}/trips?${month}`],
    ['stays, 30 days', () => `/api/v1/cars/${car()}/stays?${month}`],
    ['station utilization, 1 day', () => `/api/v1/stations/utilization?${day}`],
    ['station utilization, 30 days', () => `/api/v1/stations/utilization?${month}`],
    ['fleet summary, 1 day', () => `/api/v1/fleet/summary?${day}`],
    ['fleet summary, 30 days', () => `/api/v1/fleet/summary?${month}`],
  ];
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function measure(base, cars) {
  const out = {};
  for (const [name, path] of endpoints(cars)) {
    const ms = [];
    const statuses = {};
    let refusal;
    for (let i = 0; i < REQUESTS; i++) {
      const t = performance.now();
      const response = await fetch(base + path(), { headers: { authorization: `Bearer ${TOKEN}` } });
      const body = await response.json();
      ms.push(performance.now() - t);
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      if (response.status !== 200) {
        refusal = body.error === 'too_much_data' ? `${body.error}: ~${body.estimatedRows} rows` : `${body.error}: ${body.message}`;
        if (i >= 2) break; // a refusal is the same every time
      }
    }
    ms.sort((a, b) => a - b);
    out[name] = { p50: +pct(ms, 50).toFixed(1), p95: +pct(ms, 95).toFixed(1), requests: ms.length, statuses, ...(refusal ? { refusal } : {}) };
  }
  return out;
}

/** Inserts `rate` rows/s (batches of rate/10 every 100 ms) of new samples, as the history writer would. */
function startWriter(url, cars, rate) {
  const client = new pg.Client({ connectionString: url });
  let stopped = false;
  let rows = 0;
  let behind = 0;
  const loop = (async () => {
    await client.connect();
    const batch = Math.max(1, Math.round(rate / 10));
    let k = 0;
    const started = performance.now();
    while (!stopped) {
      const r = { count: batch, eventId: [], carId: [], timeMs: [], lat: [], lon: [], battery: [], velocity: [], stationId: [], charging: [], energyKwh: [], pluggedInMs: [], late: [] };
      for (let i = 0; i < batch; i++, k++) {
        const c = k % cars;
        r.eventId.push(`bench-live-${RUN_ID}-${k}`); r.carId.push(`CAR-${String(c).padStart(5, '0')}`); r.timeMs.push(END_MS + 60_000 + Math.floor(k / cars) * 2000);
        r.lat.push(40.75); r.lon.push(-73.98); r.battery.push(50); r.velocity.push(30); r.stationId.push(null); r.charging.push(false); r.energyKwh.push(null); r.pluggedInMs.push(null); r.late.push(false);
      }
      rows += await insertRows(client, r);
      const due = started + (rows / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      else behind = Math.max(behind, -wait);
    }
    return { rows, seconds: (performance.now() - started) / 1000, maxBehindMs: Math.round(behind) };
  })();
  return async () => {
    stopped = true;
    const result = await loop;
    await client.end();
    return { ...result, rowsPerSecond: Math.round(result.rows / result.seconds) };
  };
}

/** The history a kept database already holds for these cars and days: its end time, or undefined. */
async function keptHistory(url, cars) {
  return withClient(url, async (c) => {
    if ((await c.query("SELECT to_regclass('bench_history') IS NOT NULL AS e")).rows[0].e !== true) return undefined;
    const { rows } = await c.query('SELECT end_ms FROM bench_history WHERE cars = $1 AND days = $2', [cars, DAYS]);
    return rows.length === 1 ? Number(rows[0].end_ms) : undefined;
  });
}

/** Deletes what the writer phase added after the history's end (a kept database is measured again). */
async function deleteLiveRows(url) {
  await withClient(url, async (c) => {
    const t = performance.now();
    const deleted = (await c.query('DELETE FROM car_telemetry WHERE time >= $1', [new Date(END_MS)])).rowCount;
    say(`deleted the writer phase's ${deleted} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  });
}

async function benchTarget(target, url, cars, timescale, keep = false) {
  const kept = keep ? await keptHistory(url, cars) : undefined;
  let generated;
  if (kept !== undefined) {
    END_MS = kept;
    generated = { rows: cars * DAYS * DAY_MINUTES, seconds: 0, reused: true };
    say(`${target}: reusing the history of ${cars} cars x ${DAYS} days ending ${iso(END_MS)}`);
  } else {
    say(`${target}: generating ${cars} cars x ${DAYS} days = ${(cars * DAYS * DAY_MINUTES).toLocaleString()} rows`);
    generated = await generate(url, cars, timescale);
    say(`${target}: generated in ${generated.seconds.toFixed(0)} s (${Math.round(generated.rows / generated.seconds)} rows/s)`);
  }
  const size = await withClient(url, async (c) => (await c.query("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS s FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')")).rows[0].s).catch(() => null);
  const port = await freePort();
  // The per-operator rate limit off: one token sends every request (latency measured, not limits).
  const api = spawnNode('analytics-api/dist/src/main.js', { DATABASE_URL: url, ANALYTICS_ADDR: `127.0.0.1:${port}`, OPERATOR_TOKENS: TOKEN, OPERATOR_RATE: '0' });
  const base = `http://127.0.0.1:${port}`;
  const spawned = performance.now();
  try {
    // Long: on a history without its rollups the API's start-up builds them first (logged).
    const exited = api.exited.then((code) => { throw new Error(`the API exited (${code}) at start: ${api.output().slice(-2000)}`); });
    exited.catch(() => undefined);
    await Promise.race([waitFor('the API', async () => (await fetch(`${base}/ready`)).ok, 3_600_000, 250), exited]);
    const apiReadySeconds = +((performance.now() - spawned) / 1000).toFixed(1);
    say(`${target}: the API was ready in ${apiReadySeconds} s`);
    const alone = await measure(base, cars);
    results.push({ target, cars, days: DAYS, rows: generated.rows, size, generateSeconds: +generated.seconds.toFixed(1), reused: generated.reused === true, apiReadySeconds, phase: 'alone', endpoints: alone });
    say(`${target} alone: ${JSON.stringify(alone)}`);
    const stopWriter = startWriter(url, cars, WRITE_RATE);
    await new Promise((r) => setTimeout(r, 2000));
    const busy = await measure(base, cars);
    const writer = await stopWriter();
    results.push({ target, cars, days: DAYS, rows: generated.rows, phase: `writer at ${WRITE_RATE} rows/s`, writer, endpoints: busy });
    say(`${target} with the writer (${JSON.stringify(writer)}): ${JSON.stringify(busy)}`);
  } finally {
    api.proc.kill('SIGTERM');
    await api.exited;
    if (keep) await deleteLiveRows(url);
  }
}

async function main() {
  if (TARGETS.includes('postgres')) {
    const db = KEEP_DB ?? `bench_api_${RUN_ID}`;
    const exists = await withClient(ADMIN_URL, async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])).rows.length === 1);
    if (!exists) await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${db}`));
    const u = new URL(ADMIN_URL);
    u.pathname = `/${db}`;
    try {
      await benchTarget('postgresql 15', u.toString(), CARS, false, KEEP_DB !== undefined);
    } finally {
      if (KEEP_DB === undefined) await withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
    }
  }
  if (TARGETS.includes('embedded')) {
    for (const cars of EMBEDDED_CARS) {
      const dir = mkdtempSync(join(tmpdir(), 'analytics-bench-embedded-'));
      const server = spawnNode('common/dist/src/embedded-db/server.js', { EMBEDDED_DB_DIR: dir, EMBEDDED_DB_PORT: String(EMBEDDED_PORT), LOG_LEVEL: 'info' });
      const url = `postgres://postgres@127.0.0.1:${EMBEDDED_PORT}/postgres`;
      try {
        await waitFor('the private embedded database', () => server.output().includes('embedded TimescaleDB ready'), 120_000);
        await benchTarget('embedded timescaledb', url, cars, true);
        const rss = (await import('node:fs')).readFileSync(`/proc/${server.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1];
        results.at(-1).embeddedServerRssMb = rss ? Math.round(Number(rss) / 1024) : null;
      } catch (error) {
        results.push({ target: 'embedded timescaledb', cars, days: DAYS, failed: error.message, serverLog: server.output().slice(-2000) });
        say(`embedded with ${cars} cars failed: ${error.message}`);
      } finally {
        server.proc.kill('SIGTERM');
        await server.exited;
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGKILL');
  for (const r of results) process.stdout.write(JSON.stringify(r) + '\n');
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `analytics-api-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ cars: CARS, days: DAYS, requests: REQUESTS, writeRate: WRITE_RATE, results }, null, 2));
  say(`results: ${file}`);
}
