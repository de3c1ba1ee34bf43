#!/usr/bin/env node
// What the cluster layout of issue 20 costs against the single servers, in one run, driven by the
// simulator's load mode (as ingestion/bench/throughput.mjs drives it; the ingestions with
// INGESTION_CAR_RATE=0 INGESTION_STREAM_RATE=0):
//   single            one ingestion on the single Kafka (:19092, RF 1) and Redis (:6379), cars straight to it;
//   cluster-direct    one ingestion on three Kafka nodes (RF 3, min ISR 2, acks=all) and Redis behind
//                     Sentinel (BOOKING_WAIT_REPLICAS=1), cars straight to it: the cost of replication;
//   cluster-haproxy-1 the same ingestion, cars through HAProxy: the cost of the extra hop;
//   cluster-haproxy-3 three ingestions behind HAProxy: the layout itself.
// Each: (a) BENCH_STREAMS streams with BENCH_INFLIGHT messages in flight each, as fast as acks
// allow, BENCH_SECONDS: acked msgs/s and ack p50/p99; the ingestions' CPU per ack; (b) a steady
// BENCH_RATE msgs/s (both setups sustain it) over the same streams for BENCH_STEADY_SECONDS: ack p50/p99/p99.9. Every run
// starts with BENCH_WARMUP seconds not counted. Then, when chaos/results/chaos-cluster.json is
// there, the failover time of each component as the chaos cluster run measured it.
//
//   node bench/cluster.mjs      (make bench runs it; the single servers from `infra/infra.sh up`)
//
// The cluster is a private one (.cache/bench-cluster, ports 25061.. for HAProxy and the
// ingestions, 25092.. Kafka, 27780.. Redis and Sentinels), started here and stopped at the end
// (BENCH_KEEP_CLUSTER=1 leaves it). Variables: BENCH_SECONDS (10), BENCH_STEADY_SECONDS (15),
// BENCH_WARMUP (3), BENCH_STREAMS (100), BENCH_INFLIGHT (8), BENCH_RATE (1000),
// BENCH_CLUSTER_WARMUP (20: seconds of load through a cluster ingestion before its first figure; freshly
// started JVMs answer several times slower until their JIT has compiled the hot paths), BENCH_THREADS
// (load generator threads, 2), BENCH_SETUPS (the four above, comma-separated), BENCH_ROUNDS (1:
// more interleaves the setups and reports medians), KAFKA_BROKERS and BENCH_REDIS_URL for the
// single setup (127.0.0.1:19092, redis://127.0.0.1:6379/6, FLUSHed), BENCH_NOTE. Prints a
// table, then one JSON line; results in bench/results/cluster-<time>.json.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { createClient } from 'redis';
import { cpuSeconds, sleep, startChild, stopChild } from '../ingestion/bench/kit.mjs';
import { clusterCmd, clusterConfig, clusterUrls, createTopics, haproxyServers, timeUntil, withPrimary } from '../chaos/lib/cluster.mjs';

const { Kafka, logLevel } = kafkajs;
const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const INGESTION_MAIN = join(ROOT, 'ingestion/dist/src/main.js');
const SIMULATOR_MAIN = join(ROOT, 'simulator/dist/src/main.js');
const env = process.env;
const num = (name, fallback) => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number ≥ 0, got ${env[name]}`);
  return value;
};
const SECONDS = num('BENCH_SECONDS', 10);
const STEADY_SECONDS = num('BENCH_STEADY_SECONDS', 15);
const WARMUP = num('BENCH_WARMUP', 3);
const STREAMS = num('BENCH_STREAMS', 100);
const INFLIGHT = num('BENCH_INFLIGHT', 8);
const RATE = num('BENCH_RATE', 1000);
const CLUSTER_WARMUP = num('BENCH_CLUSTER_WARMUP', 20);
const THREADS = num('BENCH_THREADS', 2);
const ROUNDS = num('BENCH_ROUNDS', 1);
const SETUPS = (env.BENCH_SETUPS ?? 'single,cluster-direct,cluster-haproxy-1,cluster-haproxy-3').split(',');
const SINGLE_BROKERS = (env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const SINGLE_REDIS = env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/6';
const TOKEN = 'bench-cluster-token';
const tag = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;

for (const main of [INGESTION_MAIN, SIMULATOR_MAIN]) {
  if (!existsSync(main)) {
    console.error(`${main} is missing: run \`npx tsc -b\` first`);
    process.exit(1);
  }
}

const cfg = clusterConfig(1000, join(ROOT, '.cache', 'bench-cluster'));
const u = clusterUrls(cfg, 'unused');
const log = (line) => process.stderr.write(`[bench-cluster ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const load1 = () => Math.round(loadavg()[0] * 10) / 10;

/** One ingestion as a child process (bookings desk on, as in production). */
function ingestion(name, { brokers, redisUrl, topic, grpcPort, httpPort, cluster }) {
  return startChild(name, INGESTION_MAIN, [], {
    INGESTION_ADDR: `127.0.0.1:${grpcPort}`,
    INGESTION_HTTP_ADDR: `127.0.0.1:${httpPort}`,
    INGESTION_INSTANCE_ID: name,
    KAFKA_BROKERS: brokers.join(','),
    REDIS_URL: redisUrl,
    FLEET_EVENTS_TOPIC: topic,
    API_TOKENS: TOKEN,
    INGESTION_CAR_RATE: '0',
    INGESTION_STREAM_RATE: '0',
    ...(cluster ? { BOOKING_WAIT_REPLICAS: '1' } : {}),
    LOG_LEVEL: 'warn',
  });
}

async function waitReady(proc, httpPort) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited at start:\n${proc.output().slice(-2000)}`);
    if (await fetch(`http://127.0.0.1:${httpPort}/ready`).then((r) => r.status === 200, () => false)) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} not ready in 90 s:\n${proc.output().slice(-2000)}`);
    await sleep(250);
  }
}

/** The simulator's load mode in its own process; its JSON summary. */
async function load(target, { seconds, rate, prefix }) {
  const args = ['--mode', 'load', '--json', '--target', target, '--token', TOKEN, '--cars', String(STREAMS), '--duration', String(seconds), '--warmup', String(WARMUP),
    '--threads', String(THREADS), '--channels', String(Math.max(2, THREADS * 2)), '--car-prefix', prefix, ...(rate === undefined ? ['--inflight', String(INFLIGHT)] : ['--rate', String(rate)])];
  const sim = startChild('simulator', SIMULATOR_MAIN, args, { LOG_LEVEL: 'warn' });
  const { code } = await sim.exited;
  const line = sim.output().trim().split('\n').reverse().find((l) => l.startsWith('{"mode":"load"'));
  if (line === undefined) throw new Error(`the simulator printed no summary (exit ${code}):\n${sim.output().slice(-2000)}`);
  const s = JSON.parse(line);
  if (s.refusedToken) throw new Error(`${target} refused the token: ${s.refusedToken}`);
  return s;
}

const shape = (s) => ({ ackedPerSec: s.ackedPerSec, p50: s.latencyMs.p50, p99: s.latencyMs.p99, p999: s.latencyMs.p999, max: s.latencyMs.max, acked: s.acked, warmupAcked: s.warmupAcked, failed: s.failed, rejected: s.rejected, reconnects: s.reconnects });

async function topicEvents(brokers, topic) {
  const admin = new Kafka({ brokers, clientId: 'bench-cluster', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

async function deleteTopic(brokers, topic) {
  const admin = new Kafka({ brokers, clientId: 'bench-cluster', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
}

/** One setup: its ingestions up, (a) and (b) measured, its ingestions stopped, its topic checked and deleted. */
async function measure(setup, round) {
  const cluster = setup !== 'single';
  const brokers = cluster ? u.brokers : SINGLE_BROKERS;
  const redisUrl = cluster ? u.redisUrl : SINGLE_REDIS;
  const topic = `bench-cluster-${tag}-${setup}-${round}`;
  const instances = setup === 'cluster-haproxy-3' ? 3 : 1;
  if (cluster) await createTopics(brokers, [topic]);
  const ports = cluster ? cfg.cluster.ingestion : [{ grpcPort: 25161, httpPort: 25171 }];
  const procs = [];
  try {
    for (let i = 0; i < instances; i++) {
      const p = ports[i];
      const proc = ingestion(`ingestion-${i + 1}`, { brokers, redisUrl, topic, grpcPort: p.grpcPort, httpPort: p.httpPort, cluster });
      procs.push(proc);
      await waitReady(proc, p.httpPort);
    }
    const viaHaproxy = setup.startsWith('cluster-haproxy');
    if (viaHaproxy) {
      const up = await timeUntil(async () => (await haproxyServers(u)).filter((s) => s.status === 'UP').length === instances, 30_000, 200);
      if (up === null) throw new Error(`HAProxy does not see ${instances} ingestion(s) UP: ${JSON.stringify(await haproxyServers(u).catch((e) => e.message))}`);
    }
    const target = viaHaproxy ? u.target : `127.0.0.1:${ports[0].grpcPort}`;
    if (cluster && !clusterWarm && CLUSTER_WARMUP > 0) {
      log(`  warming the cluster up: ${CLUSTER_WARMUP} s of load, not counted`);
      await load(target, { seconds: CLUSTER_WARMUP, prefix: `BCL-${tag}-warm-` });
      clusterWarm = true;
    }
    const cpuOf = () => procs.reduce((n, p) => n + cpuSeconds(p.child.pid), 0);
    const loadAtStart = load1();
    let cpu = cpuOf();
    const max = shape(await load(target, { seconds: SECONDS, prefix: `BCL-${tag}-${setup}-${round}-M-` }));
    max.cpuUsPerAck = Math.round(((cpuOf() - cpu) * 1e6 * 10) / Math.max(1, max.acked + max.warmupAcked)) / 10;
    cpu = cpuOf();
    const steady = shape(await load(target, { seconds: STEADY_SECONDS, rate: RATE, prefix: `BCL-${tag}-${setup}-${round}-S-` }));
    steady.cpuUsPerAck = Math.round(((cpuOf() - cpu) * 1e6 * 10) / Math.max(1, steady.acked + steady.warmupAcked)) / 10;
    steady.cores = Math.round(((cpuOf() - cpu) / (STEADY_SECONDS + WARMUP)) * 100) / 100;
    const acked = max.acked + max.warmupAcked + steady.acked + steady.warmupAcked;
    const events = await topicEvents(brokers, topic);
    return { setup, round, instances, target, max, steady, acked, topicEvents: events, everyAckAnEvent: events >= acked, loadAverage: [loadAtStart, load1()] };
  } finally {
    for (const p of procs) await stopChild(p);
    await deleteTopic(brokers, topic);
  }
}

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  const m = s.length === 0 ? undefined : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return m === undefined ? undefined : Math.round(m * 100) / 100;
};

/** The failover figures of the last chaos cluster run (chaos/results/chaos-cluster.json), if any. */
function chaosFailover() {
  const file = join(ROOT, 'chaos/results/chaos-cluster.json');
  if (!existsSync(file)) return undefined;
  const r = JSON.parse(readFileSync(file, 'utf8'));
  return {
    file: 'chaos/results/chaos-cluster.json',
    runId: r.runId,
    ok: r.ok,
    faults: r.check.faults.map((f) => ({ fault: f.fault, ackStallMs: f.ackStallMs, worstCarMs: f.carStallMaxMs, rowStallMs: f.rowStallMs, lost: f.lost, details: f.details })),
  };
}

let clusterWarm = false;
const started = Date.now();
const results = { bench: 'cluster', note: env.BENCH_NOTE ?? 'shared 2-core machine', streams: STREAMS, inflight: INFLIGHT, rate: RATE, seconds: SECONDS, steadySeconds: STEADY_SECONDS, warmupSec: WARMUP, threads: THREADS, rounds: ROUNDS, runs: [] };
let exitCode = 0;
try {
  log(`load average ${load1()}; single servers (infra/infra.sh up) and the private cluster (${cfg.cluster.dir})`);
  await run('bash', [join(ROOT, 'infra/infra.sh'), 'up', '--no-embedded-db'], { cwd: ROOT, timeout: 240_000 });
  await clusterCmd(cfg, 'up', 'kafka', 'redis', 'haproxy');
  const single = createClient({ url: SINGLE_REDIS });
  await single.connect();
  await single.flushDb();
  await single.quit();
  await withPrimary(cfg, (redis) => redis.flushDb());
  for (let round = 0; round < ROUNDS; round++) {
    for (const setup of SETUPS) {
      log(`round ${round + 1}/${ROUNDS}: ${setup}`);
      const r = await measure(setup, round);
      results.runs.push(r);
      log(`  ${setup}: ${r.max.ackedPerSec} acked/s (p99 ${r.max.p99} ms, ${r.max.cpuUsPerAck} µs CPU/ack); steady ${RATE}/s p99 ${r.steady.p99} ms; load ${r.loadAverage.join(' → ')}`);
      if (!r.everyAckAnEvent || r.max.failed || r.steady.failed || r.max.rejected || r.steady.rejected) exitCode = 1;
    }
  }
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  exitCode = 1;
} finally {
  if (env.BENCH_KEEP_CLUSTER !== '1') await clusterCmd(cfg, 'down').catch((e) => log(`could not stop the private cluster: ${e.message}`));
}

// Medians per setup, and each as a ratio to the single servers.
results.summary = SETUPS.map((setup) => {
  const rs = results.runs.filter((r) => r.setup === setup);
  return {
    setup,
    instances: rs[0]?.instances,
    ackedPerSec: median(rs.map((r) => r.max.ackedPerSec)),
    maxP50: median(rs.map((r) => r.max.p50)),
    maxP99: median(rs.map((r) => r.max.p99)),
    cpuUsPerAck: median(rs.map((r) => r.max.cpuUsPerAck)),
    steadyP50: median(rs.map((r) => r.steady.p50)),
    steadyP99: median(rs.map((r) => r.steady.p99)),
    steadyP999: median(rs.map((r) => r.steady.p999)),
    steadyCores: median(rs.map((r) => r.steady.cores)),
  };
});
const base = results.summary.find((s) => s.setup === 'single');
for (const s of results.summary) {
  if (!base || s === base) continue;
  s.throughputRatio = base.ackedPerSec ? Math.round((s.ackedPerSec / base.ackedPerSec) * 100) / 100 : undefined;
  s.steadyP99Ratio = base.steadyP99 ? Math.round((s.steadyP99 / base.steadyP99) * 100) / 100 : undefined;
}
results.failover = chaosFailover();
results.elapsedSec = Math.round((Date.now() - started) / 1000);

const pad = (v, n) => String(v ?? '-').padStart(n);
const ms = (v) => (v === undefined ? '-' : v.toFixed(1));
console.log(`\ncluster vs single servers: ${STREAMS} streams; (a) ${INFLIGHT} in flight each for ${SECONDS} s, (b) steady ${RATE} msgs/s for ${STEADY_SECONDS} s; ${WARMUP} s warm-up each; ${ROUNDS} round(s)${ROUNDS > 1 ? ', medians' : ''}; ${results.note}`);
console.log('setup              inst |   acked/s  p50 ms  p99 ms  µs CPU/ack  ÷single | steady p50  p99 ms  p99.9 ms  cores  p99 ÷single');
for (const s of results.summary) {
  console.log(
    `${s.setup.padEnd(18)} ${pad(s.instances, 4)} | ${pad(s.ackedPerSec, 9)} ${pad(ms(s.maxP50), 7)} ${pad(ms(s.maxP99), 7)} ${pad(s.cpuUsPerAck, 11)} ${pad(s.throughputRatio ?? (s === base ? 1 : '-'), 8)} |` +
      ` ${pad(ms(s.steadyP50), 10)} ${pad(ms(s.steadyP99), 7)} ${pad(ms(s.steadyP999), 9)} ${pad(s.steadyCores, 6)} ${pad(s.steadyP99Ratio ?? (s === base ? 1 : '-'), 12)}`,
  );
}
for (const r of results.runs) if (!r.everyAckAnEvent) console.log(`${r.setup} round ${r.round + 1}: the topic holds ${r.topicEvents} events for ${r.acked} acknowledged: NOT every ack is an event`);
console.log(`load average during the runs: ${results.runs.map((r) => `${r.setup} ${r.loadAverage.join('→')}`).join(', ')}`);
if (results.failover) {
  const sec = (v) => (v === null || v === undefined ? '-' : (v / 1000).toFixed(1));
  console.log(`\nfailover, as the chaos cluster run measured it (${results.failover.file}, ${results.failover.runId}, ${results.failover.ok ? 'PASS' : 'FAIL'}):`);
  for (const f of results.failover.faults) {
    const d = f.details ?? {};
    const what = {
      'kafka-leader-kill': `partitions led elsewhere after ${sec(d.leadersMovedMs)} s; the node back in every ISR ${sec(d.isrRejoinMs)} s after its start`,
      'redis-primary-kill': `Sentinel promoted the replica after ${sec(d.promotedMs)} s; the old primary a replica again ${sec(d.rejoinedAsReplicaMs)} s after its start`,
      'ingestion-kill': `HAProxy marked the instance DOWN after ${sec(d.markedDownMs)} s`,
      'pricing-kill': `rows again after ${sec(f.rowStallMs)} s`,
      'haproxy-restart': `restarted in ${sec(d.restartedMs)} s`,
    }[f.fault] ?? '';
    console.log(`  ${f.fault.padEnd(20)} acks stalled ${sec(f.ackStallMs)} s (worst car ${sec(f.worstCarMs)} s), lost ${f.lost}; ${what}`);
  }
}
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const file = join(ROOT, 'bench/results', `cluster-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), ...results }, null, 2));
console.log(`(${results.elapsedSec} s in all) results: ${file}`);
console.log(JSON.stringify(results));
process.exitCode = exitCode;
