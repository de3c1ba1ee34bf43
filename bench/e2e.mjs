#!/usr/bin/env node
// End to end: the simulator in load mode → ingestion → Kafka → pricing worker → PostgreSQL, with
// the grid mock, all as separate processes on this machine. For each rate it reports accepted
// messages/s and ack latency (the simulator's HDR histogram), end-to-end latency from a charging
// CarStatus being sent to its row being queryable (probe cars sending beside the load), consumer
// lag over time, and the resident memory and CPU of every process; a table on stdout and JSON in
// bench/results/. The history writer consumes the same topic as its own group; its lag is reported beside.
//
//   node bench/e2e.mjs                      (make bench; the servers of `infra/infra.sh up --postgres`)
//   BENCH_RATES=5000,10000,15000  BENCH_SECONDS=60  BENCH_CARS=1000  BENCH_PROBE_MS=200
//   BENCH_RATES=10000 BENCH_SECONDS=300     the 5-minute sustained run
//   BENCH_WARMUP=10                         latencies of the steady state only (not the first 10 s)
//   BENCH_BATCH_NICE=10                     the batch side (pricing worker, history writer and their
//                                           PostgreSQL sessions) at this CPU niceness, below the
//                                           ingestion's path, as separate machines would keep them apart
//
// Every process's CPU is reported with its run-queue wait (bench/run-queue.mjs): time its threads
// were runnable but had no core, over the load after the warm-up; beside it, the machine's busy,
// idle and steal time (vCPU time the host gave to something else) over the same span.
//
// Load mode sends driving telemetry (no rows); the probe cars send charging samples through the
// same ingestion, topic partitions and worker batches, so their latency is the pipeline's.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setPriority } from 'node:os';
import pg from 'pg';
import hdr from 'hdr-histogram-js';
import { createKafka, createLogger, ensureTopics } from '@greenlane/common';
import { uniqueName, testServers } from '@greenlane/common/testing';
import { freePort } from '@greenlane/common/testing-kafka';
import { createFleetClient, tokenMetadata } from '../simulator/dist/src/grpc-client.js';
import { infraPid, startFlags } from '../ingestion/bench/kit.mjs';
import { childrenOf, machineBetween, machineSample, runQueueBetween, runQueueSample } from './run-queue.mjs';

const root = new URL('..', import.meta.url).pathname;
const env = process.env;
const rates = (env.BENCH_RATES ?? '5000,10000,15000').split(',').map(Number);
const seconds = Number(env.BENCH_SECONDS ?? 60);
const cars = Number(env.BENCH_CARS ?? 1000);
const probeEveryMs = Number(env.BENCH_PROBE_MS ?? 200);
// Seconds at the start of each rate whose messages are sent but not counted in the latencies (new
// streams, JIT, the producer's first requests): 0 keeps the figures comparable with earlier results.
const warmupSec = Number(env.BENCH_WARMUP ?? 0);
const batchNice = Number(env.BENCH_BATCH_NICE ?? 0);
if (!Number.isInteger(batchNice) || batchNice < 0 || batchNice > 19) throw new Error(`BENCH_BATCH_NICE must be a niceness from 0 to 19, got ${env.BENCH_BATCH_NICE}`);
const probeCars = 4;
const token = 'e2e-bench-token';
const postgresAdmin = testServers.postgresUrl;
const log = createLogger('e2e-bench', { LOG_LEVEL: 'silent' });
const CLK_TCK = 100;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A compiled program as a child process; its output goes to a log file under .cache/logs. */
function startProgram(name, file, extraEnv, args = [], nice = 0) {
  const logPath = join(root, '.cache', 'logs', `bench-e2e-${name}.log`);
  mkdirSync(join(root, '.cache', 'logs'), { recursive: true });
  // With the Node flags of its `npm start`, as it runs in production.
  const command = [process.execPath, ...startFlags(join(root, file.split('/')[0])), join(root, file), ...args];
  // Under nice(1), every thread the program starts has the niceness, not only the first.
  if (nice > 0) command.unshift('nice', '-n', String(nice));
  const child = spawn(command[0], command.slice(1), {
    env: { ...env, LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  child.on('exit', () => writeFileSync(logPath, out));
  return { name, child, output: () => out };
}

async function waitHttp(url, what) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    await sleep(200);
  }
  throw new Error(`${what} did not become ready at ${url}`);
}

/** utime+stime of a process, its exited children's (cutime+cstime), its parent pid, its VmRSS. */
function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]), rssKb };
}

/**
 * CPU ticks of a process with its child processes (PostgreSQL does its work in one backend process
 * per connection, children of the postmaster), and the resident memory of the process itself
 * (backends share the buffer cache: summing their VmRSS would count it once per backend).
 */
function procSample(pid, children) {
  try {
    const root = procStat(pid);
    let ticks = root.ticks + root.childTicks;
    for (const child of children) {
      try {
        ticks += procStat(child).ticks;
      } catch {
        // exited between the listing and the read
      }
    }
    return { ticks, rssMb: root.rssKb / 1024 };
  } catch {
    return undefined;
  }
}

/** Probe cars: plugged in at a station, one charging sample every probeEveryMs, timestamp = now. */
function startProbes(target, db, ackLatency, e2eLatency) {
  const client = createFleetClient(target, 9999);
  const pending = new Map(); // `${car} ${timestamp}` → sentAt
  const measureFrom = performance.now() + warmupSec * 1000;
  const streams = [];
  let lastTs = 0;
  let stopped = false;
  for (let i = 0; i < probeCars; i++) {
    const carId = `PROBE-${i}-${Date.now().toString(36)}`;
    const call = client.streamTelemetry(tokenMetadata(token));
    const inflight = [];
    call.on('data', () => {
      const sentAt = inflight.shift();
      if (sentAt !== undefined && sentAt >= measureFrom) ackLatency.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
    });
    call.on('error', () => {});
    streams.push({ carId, call, inflight, meter: 0, pluggedInAt: Date.now() });
  }
  let k = 0;
  const sender = setInterval(() => {
    const s = streams[k++ % streams.length];
    const timestamp = Math.max(Date.now(), lastTs + 1);
    lastTs = timestamp;
    s.meter += 0.05;
    const sentAt = performance.now();
    s.inflight.push(sentAt);
    pending.set(`${s.carId} ${timestamp}`, sentAt);
    s.call.write({
      carId: s.carId, latitude: 40.7033, longitude: -74.017, batteryLevel: 50, velocity: 0, timestamp,
      stationId: 'ST-001', charging: true, chargeEnergyKwh: Number(s.meter.toFixed(3)), pluggedInAt: s.pluggedInAt, bookingRequest: undefined,
    });
  }, probeEveryMs / probeCars);
  // Rows become visible when the worker's transaction commits: poll for the probes' rows.
  const poller = (async () => {
    let since = new Date(Date.now() - 1000);
    while (!stopped || pending.size > 0) {
      if (pending.size > 0) {
        const { rows } = await db.query(
          "SELECT car_id, (extract(epoch FROM time) * 1000)::bigint AS t FROM charging_sessions WHERE car_id LIKE 'PROBE-%' AND time >= $1",
          [since],
        );
        const now = performance.now();
        for (const r of rows) {
          const key = `${r.car_id} ${r.t}`;
          const sentAt = pending.get(key);
          if (sentAt !== undefined) {
            if (sentAt >= measureFrom) e2eLatency.recordValue(Math.max(1, Math.round(now - sentAt)));
            pending.delete(key);
          }
        }
        const oldest = Math.min(...[...pending.keys()].map((key) => Number(key.split(' ')[1])));
        if (Number.isFinite(oldest)) since = new Date(oldest);
      }
      if (stopped && pending.size > 0 && Date.now() - lastTs > 30_000) break; // give up on stragglers
      await sleep(20);
    }
  })();
  return {
    pending: () => pending.size,
    async stop() {
      clearInterval(sender);
      for (const s of streams) s.call.end();
      stopped = true;
      await poller;
      client.close();
      return pending.size;
    },
  };
}

/**
 * The PostgreSQL sessions of the batch side (every session of the bench's database but the probes'
 * own) at `nice`; returns the pids it was not allowed to renice (PostgreSQL running as another user).
 */
async function niceBatchSessions(db, dbName, nice) {
  const { rows } = await db.query('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
  const refused = [];
  for (const { pid } of rows) {
    try {
      setPriority(pid, nice);
    } catch (error) {
      // ESRCH: the session ended meanwhile.
      if (error.code !== 'ESRCH') refused.push(pid);
    }
  }
  return refused;
}

async function lagOf(admin, topic, groupId) {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map(committed[0].partitions.map((p) => [p.partition, Number(p.offset)]));
  return ends.reduce((sum, p) => sum + Math.max(0, Number(p.high) - Math.max(0, done.get(p.partition) ?? 0)), 0);
}

async function runRate(rate) {
  const topic = uniqueName('e2e-bench');
  const group = uniqueName('e2e-bench-group');
  const dbName = `e2e_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: postgresAdmin });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const dbUrl = postgresAdmin.replace(/\/[^/]*$/, `/${dbName}`);
  const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'e2e-bench', log, quiet: true });
  await ensureTopics(kafka, [{ topic, numPartitions: 6 }]);
  const kadmin = kafka.admin();
  await kadmin.connect();

  const [grpcPort, opsPort, pricingPort, gridPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const gridUrl = `http://127.0.0.1:${gridPort}`;
  const common = { KAFKA_BROKERS: testServers.kafkaBrokers.join(','), FLEET_EVENTS_TOPIC: topic, GRID_URL: gridUrl };
  const programs = [];
  const grid = startProgram('grid-mock', 'grid-mock/dist/src/main.js', { GRID_ADDR: `127.0.0.1:${gridPort}` });
  programs.push(grid);
  await waitHttp(`${gridUrl}/health`, 'grid mock');
  const ingestion = startProgram('ingestion', 'ingestion/dist/src/main.js', {
    ...common,
    INGESTION_ADDR: `127.0.0.1:${grpcPort}`,
    INGESTION_HTTP_ADDR: `127.0.0.1:${opsPort}`,
    REDIS_URL: `${testServers.redisUrl}/12`,
    API_TOKENS: token, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0',
  });
  programs.push(ingestion);
  await waitHttp(`http://127.0.0.1:${opsPort}/ready`, 'ingestion');
  const worker = startProgram('pricing-worker', 'pricing-worker/dist/src/main.js', {
    ...common,
    DATABASE_URL: dbUrl,
    PRICING_GROUP_ID: group,
    PRICING_HTTP_ADDR: `127.0.0.1:${pricingPort}`,
  }, [], batchNice);
  programs.push(worker);
  await waitHttp(`http://127.0.0.1:${pricingPort}/ready`, 'pricing worker');
  // The history writer (issue 19): its own group on the same topic, its lag reported beside the pricing worker's.
  const historyGroup = `${group}-history`;
  const historyPort = await freePort();
  const history = startProgram('history-writer', 'history-writer/dist/src/main.js', { ...common, DATABASE_URL: dbUrl, HISTORY_GROUP_ID: historyGroup, HISTORY_HTTP_ADDR: `127.0.0.1:${historyPort}` }, [], batchNice);
  programs.push(history);
  await waitHttp(`http://127.0.0.1:${historyPort}/ready`, 'history writer');

  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  const ackLatency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const e2eLatency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
  const probes = startProbes(`127.0.0.1:${grpcPort}`, db, ackLatency, e2eLatency);

  const simulator = startProgram('simulator', 'simulator/dist/src/main.js', { API_TOKEN: token }, [
    '--mode', 'load', '--target', `127.0.0.1:${grpcPort}`, '--cars', String(cars), '--rate', String(rate),
    '--duration', String(seconds), '--warmup', String(warmupSec), '--json', '--seed', '7',
  ]);
  programs.push(simulator);

  // Once a second: consumer lag and every process's CPU and memory.
  const watched = [
    ...programs.map((p) => ({ name: p.name, pid: p.child.pid })),
    { name: 'kafka', pid: infraPid('kafka') },
    { name: 'redis', pid: infraPid('redis') },
    { name: 'postgres', pid: infraPid('postgres') },
  ].filter((w) => w.pid);
  const usage = new Map(watched.map((w) => [w.name, { first: procSample(w.pid, childrenOf(w.pid)), last: undefined, peakRssMb: 0 }]));
  const runQueue = new Map();
  /** The machine's busy, idle and stolen time over the same span as the run-queue figures. */
  let machineFirst;
  let machineLast;
  /** PostgreSQL sessions BENCH_BATCH_NICE could not renice. */
  const unniced = new Set();
  const lagSeries = [];
  const started = Date.now();
  const simulatorDone = new Promise((resolve) => simulator.child.on('exit', resolve));
  let running = true;
  simulatorDone.then(() => (running = false));
  while (running) {
    await sleep(1000);
    if ((Date.now() - started) / 1000 >= warmupSec) {
      machineLast = machineSample();
      machineFirst ??= machineLast;
    }
    for (const w of watched) {
      const u = usage.get(w.name);
      const children = childrenOf(w.pid);
      const s = procSample(w.pid, children);
      if (!s) continue;
      u.last = s;
      u.peakRssMb = Math.max(u.peakRssMb, s.rssMb);
      // From the first sample after the warm-up to the last one under load.
      if ((Date.now() - started) / 1000 < warmupSec) continue;
      const sample = { at: Date.now(), threads: runQueueSample(w.pid, children) };
      const rq = runQueue.get(w.name);
      if (rq === undefined) runQueue.set(w.name, { first: sample, last: sample });
      else rq.last = sample;
    }
    if (batchNice > 0) for (const pid of await niceBatchSessions(db, dbName, batchNice)) unniced.add(pid);
    lagSeries.push({ t: Math.round((Date.now() - started) / 1000), lag: await lagOf(kadmin, topic, group).catch(() => null), historyLag: await lagOf(kadmin, topic, historyGroup).catch(() => null) });
  }
  const elapsed = (Date.now() - started) / 1000;
  const summary = JSON.parse(simulator.output().trim().split('\n').filter((l) => l.startsWith('{"mode"')).pop() ?? '{}');
  // The bench's ingestion accepts only its own token: a refusal is a broken setup, not a figure.
  if (summary.refusedToken) throw new Error(`the bench's ingestion refused the simulator's token (${summary.refusedToken}); see .cache/logs/bench-e2e-*.log`);
  const unmatched = await probes.stop();
  // Drain: how long until the lag is back to zero after the load stops.
  const drainStart = Date.now();
  let lagAfter = await lagOf(kadmin, topic, group);
  while (lagAfter > 0 && Date.now() - drainStart < 60_000) {
    await sleep(500);
    lagAfter = await lagOf(kadmin, topic, group);
  }
  const drainSec = (Date.now() - drainStart) / 1000;
  while ((await lagOf(kadmin, topic, historyGroup)) > 0 && Date.now() - drainStart < 60_000) await sleep(500);
  const historyDrainSec = (Date.now() - drainStart) / 1000;

  for (const p of [...programs].reverse()) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await Promise.all(programs.map((p) => (p.child.exitCode === null ? new Promise((r) => p.child.once('exit', r)) : null)));
  await db.end();
  await kadmin.deleteTopics({ topics: [topic] }).catch(() => {});
  await kadmin.disconnect();
  const cleanup = new pg.Client({ connectionString: postgresAdmin });
  await cleanup.connect();
  await cleanup.query(`DROP DATABASE IF EXISTS ${dbName}`).catch(() => {});
  await cleanup.end();

  const half = Math.floor(lagSeries.length / 2);
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const lags = lagSeries.map((x) => x.lag ?? 0);
  const historyLags = lagSeries.map((x) => x.historyLag ?? 0);
  const processes = Object.fromEntries(
    [...usage].map(([name, u]) => {
      const rq = runQueue.get(name);
      return [
        name,
        {
          cpuPercent: u.first && u.last ? Math.round(((u.last.ticks - u.first.ticks) / CLK_TCK / elapsed) * 1000) / 10 : null,
          peakRssMb: Math.round(u.peakRssMb),
          ...(rq && rq.last.at > rq.first.at ? { runQueue: runQueueBetween(rq.first.threads, rq.last.threads, (rq.last.at - rq.first.at) / 1000) } : {}),
        },
      ];
    }),
  );
  return {
    rate,
    seconds,
    cars,
    batchNice,
    ...(unniced.size > 0 ? { batchSessionsNotReniced: unniced.size } : {}),
    acceptedPerSec: Math.round(summary.ackedPerSec ?? 0),
    sent: summary.sent,
    acked: summary.acked,
    failed: summary.failed,
    ackMs: summary.latencyMs,
    // The load generator's own lag behind its schedule, which ackMs includes (it counts from the due time).
    sendLagMs: summary.sendLagMs,
    probeAckMs: { p50: ackLatency.getValueAtPercentile(50) / 1000, p99: ackLatency.getValueAtPercentile(99) / 1000 },
    e2eMs: { p50: e2eLatency.getValueAtPercentile(50), p99: e2eLatency.getValueAtPercentile(99), max: e2eLatency.maxValue, samples: e2eLatency.totalCount },
    probesWithoutRow: unmatched,
    ...(machineFirst && machineLast ? { machine: machineBetween(machineFirst, machineLast) } : {}),
    lag: { firstHalfMean: Math.round(mean(lags.slice(0, half))), secondHalfMean: Math.round(mean(lags.slice(half))), max: Math.max(0, ...lags), drainSec, series: lagSeries },
    historyLag: { firstHalfMean: Math.round(mean(historyLags.slice(0, half))), secondHalfMean: Math.round(mean(historyLags.slice(half))), max: Math.max(0, ...historyLags), drainSec: historyDrainSec },
    processes,
  };
}

const results = [];
console.log(`end to end: simulator load → ingestion → Kafka → pricing worker → PostgreSQL 15; ${seconds}s per rate, ${cars} cars, probes every ${probeEveryMs} ms`);
console.log('rate/s  accepted/s  ack p50/p99 ms   e2e p50/p99 ms   lag mean 1st/2nd half  max   drain s');
for (const rate of rates) {
  const r = await runRate(rate);
  results.push(r);
  const sustained = r.acceptedPerSec >= 0.98 * rate && r.e2eMs.p99 <= 1000 && r.lag.secondHalfMean <= Math.max(1000, r.lag.firstHalfMean * 1.5);
  r.sustained = sustained;
  console.log(
    `${String(rate).padStart(6)}  ${String(r.acceptedPerSec).padStart(10)}  ${`${r.ackMs?.p50}/${r.ackMs?.p99}`.padStart(14)}   ${`${r.e2eMs.p50}/${r.e2eMs.p99}`.padStart(14)}   ${`${r.lag.firstHalfMean}/${r.lag.secondHalfMean}`.padStart(20)}  ${String(r.lag.max).padStart(6)}  ${r.lag.drainSec.toFixed(1).padStart(6)}  ${sustained ? 'sustained' : 'NOT sustained'}`,
  );
  if (r.sendLagMs) console.log(`        of the ack latency, the load generator's own lag behind its schedule: p50 ${r.sendLagMs.p50} p99 ${r.sendLagMs.p99} max ${r.sendLagMs.max} ms`);
  console.log(`        history writer lag mean 1st/2nd half ${r.historyLag.firstHalfMean}/${r.historyLag.secondHalfMean}, max ${r.historyLag.max}, drained ${r.historyLag.drainSec.toFixed(1)} s after the load`);
  console.log(`        cpu % (with child processes) / peak RSS MiB: ${Object.entries(r.processes).map(([n, p]) => `${n} ${p.cpuPercent}/${p.peakRssMb}`).join(', ')}`);
  const waits = Object.entries(r.processes).filter(([, p]) => p.runQueue && p.runQueue.cpuMsPerSec >= 5);
  const thread = (t) => (t ? `${t.cpuMsPerSec}+${t.waitMsPerSec}` : '-');
  console.log(`        ms per second on a CPU + runnable waiting for one${batchNice > 0 ? ` (batch side at nice ${batchNice})` : ''}: ${waits.map(([n, p]) => `${n} ${p.runQueue.cpuMsPerSec}+${p.runQueue.waitMsPerSec}`).join(', ')}`);
  if (r.batchSessionsNotReniced) console.log(`        WARNING: ${r.batchSessionsNotReniced} PostgreSQL sessions kept their niceness (not allowed: PostgreSQL runs as another user); the batch side was only partly lowered`);
  if (r.machine) console.log(`        the machine's vCPUs over the same span: busy ${r.machine.busyPercent} %, idle ${r.machine.idlePercent} %, taken by the host (steal) ${r.machine.stealPercent} %`);
  const ing = r.processes.ingestion?.runQueue;
  if (ing) console.log(`        of the ingestion: stream (main) thread ${thread(ing.mainThread)}, storage thread ${thread(ing.busiestOtherThread)}`);
}
const best = results.filter((r) => r.sustained).reduce((m, r) => Math.max(m, r.rate), 0);
console.log(`highest sustained rate of those tried: ${best || 'none'} msgs/s`);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const file = join(root, 'bench', 'results', `e2e-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), cpus: (await import('node:os')).cpus().length, results, highestSustained: best }, null, 2));
console.log(`results: ${file}`);
console.log(JSON.stringify({ e2e: results.map(({ lag, ...r }) => ({ ...r, lag: { ...lag, series: undefined } })), highestSustained: best }));
