#!/usr/bin/env node
// Backlog drain: how fast the compiled pricing worker turns a backlog of fleet events into
// committed charging_sessions rows, next to `psql \copy` of the same number of rows into the same
// table (as created by the worker's migration, with its indexes).
//
//   flock /tmp/greenlane-bench.lock npm run bench -w pricing-worker
//
// Per mix (all events charging; 20% charging, the rest driving telemetry) it produces the backlog
// to a topic of its own (6 partitions, key = car id, deleted at the end) before any timing, loads
// the mix's rows with \copy, then runs the worker once per pool size with a new consumer group on
// a truncated table, from its spawn until the group's lag is zero and every row is counted.
//
// Environment (defaults in brackets):
//   BENCH_EVENTS       events per mix [1000000]
//   BENCH_MIXES        charging shares in percent, comma-separated [100,20]
//   BENCH_POOLS        PRICING_POOL_SIZE values, comma-separated [1,2,4]
//   BENCH_CARS         cars (one stay of BENCH_STAY samples per charging cycle each) [5000]
//   BENCH_COMPRESSION  none or gzip, as KAFKA_COMPRESSION of the ingestion [none]
//   KAFKA_BROKERS      [127.0.0.1:19092]
//   BENCH_POSTGRES_URL server on which a database bench_* is created and dropped
//                      [postgres://postgres@127.0.0.1:55432/postgres]
//   PSQL               psql binary [/usr/lib/postgresql/15/bin/psql, else psql]
//   BENCH_WORKER_NODE_ARGS  node flags for the worker, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" []
// Any PRICING_* variable set in the environment reaches the worker (e.g. PRICING_CONCURRENCY).
// Needs the compiled worker and grid mock: npx tsc -b pricing-worker grid-mock.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import pg from 'pg';
import { CompressionTypes, Partitioners } from 'kafkajs';
import { createKafka, createLogger, migrate } from '@greenlane/common';
import { freePort } from '@greenlane/common/testing-kafka';
import { withClient } from '@greenlane/common/testing-programs';
import { sessionIdOf } from '../dist/src/decode.js';
import { priceAt } from '../../grid-mock/dist/src/curve.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const env = process.env;
const list = (value, fallback) => (value ?? fallback).split(',').map((s) => s.trim()).filter(Boolean).map(Number);
const EVENTS = Number(env.BENCH_EVENTS ?? 1_000_000);
const MIXES = list(env.BENCH_MIXES, '100,20');
const POOLS = list(env.BENCH_POOLS, '1,2,4');
const CARS = Math.min(Number(env.BENCH_CARS ?? 5000), EVENTS);
const COMPRESSION = (env.BENCH_COMPRESSION ?? 'none') === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
const BROKERS = (env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const ADMIN_URL = env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:55432/postgres';
const PSQL = env.PSQL ?? (existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql');
const WORKER_NODE_ARGS = (env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** Events per charging cycle of a car: drive, then charge for share·CYCLE samples (one stay). */
const CYCLE = 50;

for (const [name, values] of [['BENCH_MIXES', MIXES], ['BENCH_POOLS', POOLS]]) {
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`${name}: positive whole numbers, comma-separated`);
}
if (MIXES.some((m) => m > 100 || (m * CYCLE) % 100 !== 0)) throw new Error(`BENCH_MIXES: percentages up to 100 in steps of 2`);
if (!Number.isInteger(EVENTS) || EVENTS < 1) throw new Error('BENCH_EVENTS: a positive whole number');

const log = createLogger('pricing-bench', { LOG_LEVEL: 'error' });
const kafka = createKafka({ brokers: BROKERS, clientId: 'pricing-bench', log, quiet: true });
const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const dbName = `bench_${runId}`;
const dbUrl = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${dbName}`;
  return u.toString();
})();
const dlqTopic = `bench-drain-dlq-${runId}`;
const workDir = mkdtempSync(join(tmpdir(), 'pricing-bench-'));
const say = (line) => process.stderr.write(`${line}\n`);

// ── Cleanup, also on Ctrl-C: children stopped, topics deleted, database dropped.
const children = new Set();
const topics = new Set([dlqTopic]);
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const child of children) child.kill('SIGKILL');
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const mine = [...topics].filter((t) => existing.has(t));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
  } catch (error) {
    say(`cleanup: topics ${[...topics].join(', ')} not deleted: ${error.message}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const client = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  } catch (error) {
    say(`cleanup: database ${dbName} not dropped: ${error.message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  rmSync(workDir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    say(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ── Events. Event i belongs to car i % CARS (round robin, as a live stream interleaves cars) and
// is that car's k-th event, k = ⌊i / CARS⌋, 2 s after its previous one. Within each cycle of
// CYCLE events a car drives first and then charges for the mix's share of the cycle, one stay per
// cycle; with 100% it charges throughout, a new stay every CYCLE samples.
const START_MS = Date.UTC(2026, 0, 15, 0, 0);
const periodPrices = new Map();
function priceOf(ms) {
  const period = Math.floor(ms / 900_000);
  let price = periodPrices.get(period);
  if (price === undefined) periodPrices.set(period, (price = priceAt(ms).price_per_kwh));
  return price;
}
function* backlog(share) {
  const charging = (share * CYCLE) / 100;
  const meters = new Float64Array(CARS);
  const sessions = new Array(CARS);
  for (let i = 0; i < EVENTS; i++) {
    const c = i % CARS;
    const k = Math.floor(i / CARS);
    const car = `CAR-${String(c).padStart(5, '0')}`;
    // Cars spread over a day, so the backlog crosses about a hundred price periods.
    const timestamp = START_MS + c * 17_000 + k * 2000;
    const phase = k % CYCLE;
    const base = { event_id: (i.toString(16) + runId).padStart(32, '0'), event_type: 'telemetry', car_id: car, lat: 40.7 + (c % 150) / 1000, lon: -74.02 + (c % 90) / 1000, battery: 20 + (k % 60), timestamp };
    if (phase < CYCLE - charging) {
      yield { key: car, value: JSON.stringify({ ...base, velocity: 10 + (k % 40) }), row: undefined };
      continue;
    }
    const station = `ST-${String(c % 50).padStart(3, '0')}`;
    const pluggedInAt = START_MS + c * 17_000 + (k - phase + CYCLE - charging) * 2000 - 1000;
    if (phase === CYCLE - charging) {
      meters[c] = 0;
      sessions[c] = sessionIdOf(car, station, pluggedInAt);
    }
    const added = (((i * 2654435761) >>> 0) % 40 + 10) / 1000; // 0.010..0.049 kWh, to the Wh
    const meter = Math.round((meters[c] + added) * 1000) / 1000;
    const row = [new Date(timestamp).toISOString(), sessions[c], station, car, Math.round((meter - meters[c]) * 1000) / 1000, priceOf(timestamp), meter];
    meters[c] = meter;
    yield {
      key: car,
      value: JSON.stringify({ ...base, velocity: 0, station_id: station, charging: true, charge_energy_kwh: meter, plugged_in_at: pluggedInAt }),
      row,
    };
  }
}

/** Produces the mix's backlog (large batches, several in flight) and writes its rows as CSV. */
async function produceBacklog(topic, share, csvPath) {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const csv = createWriteStream(csvPath);
  const BATCH = 10_000;
  const IN_FLIGHT = 4;
  const inFlight = new Set();
  let batch = [];
  let csvChunk = '';
  let rows = 0;
  let bytes = 0;
  const started = performance.now();
  const send = async (messages) => {
    const p = producer.send({ topic, acks: -1, compression: COMPRESSION, timeout: 30_000, messages });
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => undefined);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  };
  try {
    for (const event of backlog(share)) {
      batch.push({ key: event.key, value: event.value });
      bytes += event.value.length;
      if (event.row) {
        rows++;
        csvChunk += `${event.row.join(',')}\n`;
      }
      if (batch.length === BATCH) {
        await send(batch);
        batch = [];
        if (!csv.write(csvChunk)) await once(csv, 'drain');
        csvChunk = '';
      }
    }
    if (batch.length > 0) await send(batch);
    await Promise.all(inFlight);
    csv.end(csvChunk);
    await once(csv, 'finish');
  } finally {
    await producer.disconnect();
  }
  const seconds = (performance.now() - started) / 1000;
  return { rows, bytes, seconds };
}

// ── Database helpers.
const countRows = () => withClient(dbUrl, async (c) => (await c.query('SELECT count(*)::int AS n FROM charging_sessions')).rows[0].n);
const truncate = () => withClient(dbUrl, (c) => c.query('TRUNCATE charging_sessions'));

/** `psql \copy` of the CSV into the (empty) table; returns seconds. */
function copyRows(csvPath) {
  const started = performance.now();
  const result = spawnSync(PSQL, [dbUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-c',
    `\\copy charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate, meter_kwh) FROM '${csvPath}' WITH (FORMAT csv)`], { encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`psql \\copy failed (${result.status}): ${result.stderr || result.error?.message}`);
  return seconds;
}

// ── Processes.

function spawnNode(script, childEnv, nodeArgs = []) {
  const proc = spawn(process.execPath, [...nodeArgs, script], { cwd: ROOT, env: { ...env, LOG_LEVEL: 'warn', ...childEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk) => (output = (output + chunk).slice(-20_000));
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  children.add(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    children.delete(proc);
    resolve(code ?? signal);
  }));
  return { proc, exited, output: () => output };
}

async function waitUntil(what, probe, timeoutMs, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      if (error.fatal) throw error;
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** CPU seconds (user + system) of a live process: all its threads, and its main thread alone. */
function cpuSeconds(pid) {
  const read = (path) => {
    const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  try {
    return { total: read(`/proc/${pid}/stat`), main: read(`/proc/${pid}/task/${pid}/stat`) };
  } catch {
    return { total: NaN, main: NaN };
  }
}

/**
 * CPU seconds of the shared servers' processes (postgres backends, the shared Kafka broker's JVM), for
 * where the time goes; other helpers' use of the same servers is counted too.
 */
function serverCpu() {
  const total = { postgres: 0, java: 0 };
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm !== 'postgres' && comm !== 'java') continue;
      // Only the shared broker, not the private ones tests start.
      if (comm === 'java' && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('/.cache/kafka/server.properties')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total[comm] += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** Busy share of the whole machine between two /proc/stat readings. */
function machineTicks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  return { idle, total: cpu.reduce((a, b) => a + b, 0) };
}

/** A Prometheus sample summed over its label sets (0 when the metric has no sample yet). */
function metric(text, name) {
  return text.split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Lag of the group on the topic: Σ (high watermark − committed offset). */
async function groupLag(admin, topic, groupId) {
  const [high, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map(committed[0].partitions.map((p) => [p.partition, BigInt(p.offset)]));
  let lag = 0n;
  for (const p of high) {
    const at = done.get(p.partition) ?? -1n;
    lag += BigInt(p.high) - (at < 0n ? BigInt(p.low) : at);
  }
  return Number(lag);
}

/** One worker run over the whole backlog; returns its timings. */
async function drain({ topic, pool, gridUrl, expectedRows, admin }) {
  await truncate();
  const groupId = `bench-drain-${runId}-${topic.slice(-6)}-p${pool}`;
  const port = await freePort();
  const ticks0 = machineTicks();
  const servers0 = serverCpu();
  const started = performance.now();
  const worker = spawnNode('pricing-worker/dist/src/main.js', {
    KAFKA_BROKERS: BROKERS.join(','),
    FLEET_EVENTS_TOPIC: topic,
    PRICING_DLQ_TOPIC: dlqTopic,
    PRICING_GROUP_ID: groupId,
    GRID_URL: gridUrl,
    DATABASE_URL: dbUrl,
    PRICING_POOL_SIZE: String(pool),
    PRICING_HTTP_ADDR: `127.0.0.1:${port}`,
  }, WORKER_NODE_ARGS);
  const alive = async () => {
    const code = await Promise.race([worker.exited, new Promise((r) => setTimeout(() => r(undefined), 0))]);
    if (code !== undefined) throw Object.assign(new Error(`worker exited (${code}):\n${worker.output()}`), { fatal: true });
  };
  try {
    await waitUntil('worker ready', async () => {
      await alive();
      return (await fetch(`http://127.0.0.1:${port}/ready`)).ok;
    }, 60_000, 50).catch((error) => {
      throw new Error(`${error.message}\n${worker.output()}`);
    });
    const ready = performance.now();
    let lastLag = Infinity;
    await waitUntil('lag 0 and every row committed', async () => {
      await alive();
      lastLag = await groupLag(admin, topic, groupId);
      return lastLag === 0 && (await countRows()) === expectedRows;
    }, 30 * 60_000, 200).catch((error) => {
      throw new Error(`${error.message} (lag ${lastLag})\n${worker.output()}`);
    });
    const done = performance.now();
    const cpu = cpuSeconds(worker.proc.pid);
    const ticks1 = machineTicks();
    const servers1 = serverCpu();
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return {
      seconds: (done - started) / 1000,
      startupSeconds: (ready - started) / 1000,
      workerCpu: cpu.total,
      workerMainCpu: cpu.main,
      postgresCpu: servers1.postgres - servers0.postgres,
      kafkaCpu: servers1.java - servers0.java,
      machineBusy: 1 - (ticks1.idle - ticks0.idle) / (ticks1.total - ticks0.total),
      batches: metric(metrics, 'pricing_batch_duration_seconds_count'),
      batchSecondsSum: metric(metrics, 'pricing_batch_duration_seconds_sum'),
      recomputed: metric(metrics, 'pricing_recomputed_sessions_total'),
      pauses: metric(metrics, 'pricing_partition_pauses_total'),
    };
  } finally {
    worker.proc.kill('SIGTERM');
    const timer = setTimeout(() => worker.proc.kill('SIGKILL'), 15_000);
    await worker.exited;
    clearTimeout(timer);
  }
}

// ── The run.
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');
const results = [];
let exitCode = 0;
try {
  say(`pricing-worker drain bench: ${fmt(EVENTS)} events per mix, mixes ${MIXES.join(',')}% charging, pools ${POOLS.join(',')}, ${fmt(CARS)} cars, compression ${COMPRESSION === CompressionTypes.GZIP ? 'gzip' : 'none'}, database ${dbName}`);
  await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${dbName}`));
  // The worker's own migration (the same call it makes at start): table, indexes, unique key.
  await withClient(dbUrl, (c) => migrate(c, log));
  const gridPort = await freePort();
  const grid = spawnNode('grid-mock/dist/src/main.js', { GRID_ADDR: `127.0.0.1:${gridPort}`, GRID_TZ: 'UTC' });
  const gridUrl = `http://127.0.0.1:${gridPort}`;
  await waitUntil('grid mock health', async () => (await fetch(`${gridUrl}/health`)).ok, 15_000);

  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const share of MIXES) {
      const topic = `bench-drain-${share}-${runId}`;
      topics.add(topic);
      await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
      const csvPath = join(workDir, `rows-${share}.csv`);
      const produced = await produceBacklog(topic, share, csvPath);
      say(`mix ${share}%: produced ${fmt(EVENTS)} events (${fmt(produced.bytes / 1e6)} MB) in ${fmt(produced.seconds, 1)} s, ${fmt(produced.rows)} charging samples`);

      await truncate();
      const copySeconds = copyRows(csvPath);
      const copied = await countRows();
      if (copied !== produced.rows) throw new Error(`\\copy loaded ${copied} rows, expected ${produced.rows}`);
      const copyRate = produced.rows / copySeconds;
      say(`mix ${share}%: psql \\copy ${fmt(produced.rows)} rows in ${fmt(copySeconds, 2)} s = ${fmt(copyRate)} rows/s`);
      rmSync(csvPath, { force: true });

      for (const pool of POOLS) {
        const run = await drain({ topic, pool, gridUrl, expectedRows: produced.rows, admin });
        const rowsPerSecond = produced.rows / run.seconds;
        const result = {
          mix_charging_pct: share, pool, events: EVENTS, rows: produced.rows,
          seconds: +run.seconds.toFixed(2), startup_seconds: +run.startupSeconds.toFixed(2),
          events_per_s: Math.round(EVENTS / run.seconds), rows_per_s: Math.round(rowsPerSecond),
          copy_rows_per_s: Math.round(copyRate), worker_over_copy: +(rowsPerSecond / copyRate).toFixed(3),
          worker_cpu_s: +run.workerCpu.toFixed(1), worker_main_thread_cpu_s: +run.workerMainCpu.toFixed(1), postgres_cpu_s: +run.postgresCpu.toFixed(1), kafka_cpu_s: +run.kafkaCpu.toFixed(1), machine_busy: +run.machineBusy.toFixed(2),
          batches: run.batches, mean_batch_ms: +((run.batchSecondsSum / run.batches) * 1000).toFixed(1),
          recomputed_sessions: run.recomputed, pauses: run.pauses,
        };
        results.push(result);
        say(`mix ${share}% pool ${pool}: ${fmt(result.seconds, 1)} s (startup ${fmt(result.startup_seconds, 1)} s), ${fmt(result.events_per_s)} events/s, ${fmt(result.rows_per_s)} rows/s, ${fmt(result.worker_over_copy, 2)} of COPY`);
      }
      await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
      topics.delete(topic);
    }
  } finally {
    await admin.disconnect();
  }

  const header = ['mix', 'pool', 'events', 'rows', 'seconds', 'events/s', 'rows/s', 'COPY rows/s', 'worker÷COPY', 'CPU s: worker', '(main)', 'postgres', 'kafka', 'machine busy', 'batches', 'ms/batch'];
  const table = results.map((r) => [`${r.mix_charging_pct}%`, r.pool, fmt(r.events), fmt(r.rows), fmt(r.seconds, 1), fmt(r.events_per_s), fmt(r.rows_per_s), fmt(r.copy_rows_per_s), fmt(r.worker_over_copy, 2), fmt(r.worker_cpu_s, 1), fmt(r.worker_main_thread_cpu_s, 1), fmt(r.postgres_cpu_s, 1), fmt(r.kafka_cpu_s, 1), `${fmt(r.machine_busy * 100)}%`, fmt(r.batches), fmt(r.mean_batch_ms, 1)].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  for (const row of table) console.log(line(row));
  console.log(JSON.stringify({ bench: 'pricing-worker-drain', events: EVENTS, cars: CARS, compression: COMPRESSION === CompressionTypes.GZIP ? 'gzip' : 'none', target_over_copy: 0.7, results }));
} catch (error) {
  say(`bench failed: ${error.stack ?? error}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
