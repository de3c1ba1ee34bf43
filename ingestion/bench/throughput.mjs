#!/usr/bin/env node
// Ingestion throughput, latency and memory, through the real Redis and Kafka, against the
// transport's ceiling. Runs the COMPILED programs (npx tsc -b ingestion simulator first):
//   - the ingestion service as a child process (its own topic, deleted at the end; Redis db 4,
//     FLUSHed: the bench's database), production defaults otherwise (bookings desk on);
//   - the simulator's bare grpc-js echo server as a child process (the ceiling);
//   - the simulator's load mode as the load generator, in its own process, once per case.
//
//   node bench/throughput.mjs            (from ingestion/; `npm run bench -w ingestion` runs it)
//
// a) S streams (BENCH_STREAMS, default 1,100,1000,10000) as fast as acks allow, BENCH_SECONDS each
//    (default 8) against echo and ingestion: acked msgs/s, ack p50/p99/p99.9, CPU per acknowledged
//    message (from /proc, over the whole run, warm-up included; the ingestion's split per thread
//    from ingestion_thread_cpu_seconds_total), ingestion ÷ echo for throughput and CPU; and what an
//    ack cost the whole machine in each run (the load generator, the server, Kafka and Redis when
//    `make up` runs them), whose echo ÷ ingestion ratio is the throughput ratio two saturated cores allow,
//    with the machine's busy, idle and steal time (vCPU time the host gave to something else) in the run;
// b) steady BENCH_STEADY_RATES msgs/s (a list, default 5000,10000) for BENCH_STEADY_SECONDS (20) each: ack latency of echo,
//    of the service's own path with Redis and Kafka taken out (bench/no-storage-server.mjs), and of
//    the service, each with its CPU per ack; the service's view adds its Redis pipeline and Kafka
//    produce times;
// c) BENCH_HOLD_STREAMS streams (10000) held open, one message per second each (a total rate of
//    one per stream per second, spread round-robin), BENCH_HOLD_SECONDS (30): ingestion's VmRSS.
// Every load run starts with BENCH_WARMUP seconds (default 2) whose messages are sent but not
// counted (connections, stream opening, JIT), so the figures are the steady state's.
// BENCH_BASELINE=DIR also runs the ingestion of another built checkout (DIR/ingestion/dist/src/main.js,
// e.g. a `git worktree` of the commit before a change) in the same run, case by case, for a
// before/after that the machine's drift between runs does not blur.
// BENCH_PARTS picks the parts (default streams,steady,hold). Other knobs: BENCH_INFLIGHT ("S:K,..." messages in flight per stream; default 1:256,100:8,
// 1000:1,10000:1), BENCH_THREADS (load generator threads, 2), BENCH_REDIS_URL, KAFKA_BROKERS,
// BENCH_NOTE. Prints a table and, last, one JSON line with every figure (also written to
// bench/results/ingestion-<time>.json).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connectRedis, createKafka, createLogger } from '@greenlane/common';
import { freePort } from '@greenlane/common/testing-kafka';
import { cpuSeconds, exitedChildrenCpuSeconds, infraPid, metric, sleep, startChild, startFlags, stopChild } from './kit.mjs';
import { machineBetween, machineSample } from '../../bench/run-queue.mjs';


const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const INGESTION_MAIN = join(root, 'ingestion', 'dist', 'src', 'main.js');
const SIMULATOR_MAIN = join(root, 'simulator', 'dist', 'src', 'main.js');
const ECHO_MAIN = join(root, 'simulator', 'dist', 'src', 'echo-server.js');
const NO_STORAGE_MAIN = join(here, 'no-storage-server.mjs');

const env = process.env;
const num = (name, fallback) => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${env[name]}`);
  return value;
};
const SECONDS = num('BENCH_SECONDS', 8);
const STEADY_SECONDS = num('BENCH_STEADY_SECONDS', 20);
const STEADY_RATES = (env.BENCH_STEADY_RATES ?? env.BENCH_STEADY_RATE ?? '5000,10000').split(',').map((r) => {
  const rate = Number(r);
  if (!Number.isFinite(rate) || rate <= 0) throw new Error(`BENCH_STEADY_RATES must be positive numbers (msgs/s), got ${r}`);
  return rate;
});
const HOLD_SECONDS = num('BENCH_HOLD_SECONDS', 30);
const HOLD_STREAMS = num('BENCH_HOLD_STREAMS', 10_000);
const THREADS = num('BENCH_THREADS', 2);
const WARMUP = Number(env.BENCH_WARMUP ?? 2);
if (!Number.isFinite(WARMUP) || WARMUP < 0) throw new Error(`BENCH_WARMUP must be a number of seconds ≥ 0, got ${env.BENCH_WARMUP}`);
const BASELINE_MAIN = env.BENCH_BASELINE ? join(env.BENCH_BASELINE, 'ingestion', 'dist', 'src', 'main.js') : undefined;
const PARTS = new Set((env.BENCH_PARTS ?? 'streams,steady,hold').split(','));
const STREAMS = (env.BENCH_STREAMS ?? '1,100,1000,10000').split(',').map(Number);
const INFLIGHT = new Map(
  (env.BENCH_INFLIGHT ?? '1:256,100:8,1000:1,10000:1').split(',').map((pair) => pair.split(':').map(Number)),
);
const REDIS_URL = env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/4';
const BROKERS = (env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const TOKEN = 'bench-token';
const TOPIC = `bench-ingestion-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const log = createLogger('ingestion-bench', { LOG_LEVEL: 'error' });

/** One HTTP/2 connection carries at most this many of the generator's streams. */
const STREAMS_PER_CHANNEL = 125;

for (const main of [INGESTION_MAIN, SIMULATOR_MAIN, ECHO_MAIN, ...(BASELINE_MAIN ? [BASELINE_MAIN] : [])]) {
  try {
    readFileSync(main);
  } catch {
    console.error(`${main} is missing: run \`npx tsc -b ingestion simulator\` first`);
    process.exit(1);
  }
}

// Every stream is no file descriptor, but every channel and every Kafka/Redis socket is one; the
// largest case needs a few hundred. Say so early if the limit is absurdly low.
const maxOpenFiles = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 0);
if (maxOpenFiles > 0 && maxOpenFiles < 4096) console.warn(`warning: open files limit is ${maxOpenFiles}; raise it (ulimit -n) for 10,000 streams`);





/** VmRSS of a process in MB, or undefined once it is gone. */
function rssMb(pid) {
  try {
    const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

/** Samples a process's VmRSS every 250 ms until stopped; returns the peak and the last sample. */
function rssSampler(pid) {
  let peak = 0;
  let last = 0;
  const sample = () => {
    const mb = rssMb(pid);
    if (mb !== undefined) {
      last = mb;
      peak = Math.max(peak, mb);
    }
  };
  sample();
  const timer = setInterval(sample, 250);
  return {
    now: () => (sample(), last),
    stop: () => (clearInterval(timer), sample(), { peakMb: peak, lastMb: last }),
  };
}


/** Microseconds of CPU per acknowledged message, over a whole load run (its warm-up included). */
const perAck = (cpu, r) => {
  const acks = r.acked + r.warmupAcked;
  return acks > 0 ? Math.round((cpu * 1e6 * 10) / acks) / 10 : undefined;
};

/**
 * A server's CPU over one load run: resolves with the run's summary and `cpuUs`, its CPU per ack;
 * for the ingestion also per thread (stream, storage, the rest: GC and I/O helpers) and `scraped`,
 * its metrics at the end (the one scrape after the run: the event loop figures reset at each).
 */
async function withCpu(pid, http, runLoad) {
  const cpuBefore = cpuSeconds(pid);
  const machineBefore = machineCpu();
  const threadsBefore = http === undefined ? undefined : await scrape(http);
  const summary = await runLoad();
  const cpu = cpuSeconds(pid) - cpuBefore;
  const out = { summary, cpuUs: perAck(cpu, summary), machine: machineCpuPerAck(machineBefore, machineCpu(), cpu, summary) };
  if (threadsBefore !== undefined) {
    const after = await scrape(http);
    out.scraped = after;
    const d = (thread) => (after.values.get(`ingestion_thread_cpu_seconds_total{thread="${thread}"}`) ?? 0) - (threadsBefore.values.get(`ingestion_thread_cpu_seconds_total{thread="${thread}"}`) ?? 0);
    const stream = d('stream');
    const storage = d('storage');
    out.cpuByThreadUs = { stream: perAck(stream, summary), storage: perAck(storage, summary), other: perAck(Math.max(0, cpu - stream - storage), summary) };
  }
  return out;
}

/** The stores `make up` runs on this machine (absent when the bench uses others). */
const STORE_PIDS = { kafka: infraPid('kafka'), redis: infraPid('redis') };

/** CPU seconds so far of the load generators that have exited and of each store, and the vCPUs' time. */
function machineCpu() {
  const out = { generator: exitedChildrenCpuSeconds(), vcpus: machineSample() };
  for (const [name, pid] of Object.entries(STORE_PIDS)) {
    try {
      out[name] = pid === undefined ? undefined : cpuSeconds(pid);
    } catch {
      out[name] = undefined;
    }
  }
  return out;
}

/**
 * Everything one ack cost the machine in a load run: the generator's CPU, the server's, and the
 * stores' (their idle work in an echo run), µs per ack. The two cores are shared by all of them,
 * so when they are saturated the echo's total over the ingestion's is the throughput ratio they allow.
 */
function machineCpuPerAck(before, after, serverCpu, summary) {
  const out = { generatorUs: perAck(after.generator - before.generator, summary), serverUs: perAck(serverCpu, summary) };
  let total = after.generator - before.generator + serverCpu;
  for (const name of Object.keys(STORE_PIDS)) {
    if (before[name] === undefined || after[name] === undefined) continue;
    out[`${name}Us`] = perAck(after[name] - before[name], summary);
    total += after[name] - before[name];
  }
  out.totalUs = perAck(total, summary);
  out.vcpus = machineBetween(before.vcpus, after.vcpus);
  return out;
}

const machineLine = (m) =>
  `generator ${m.generatorUs} + server ${m.serverUs}${m.kafkaUs === undefined ? '' : ` + Kafka ${m.kafkaUs}`}${m.redisUs === undefined ? '' : ` + Redis ${m.redisUs}`} = ${m.totalUs} µs` +
  ` (vCPUs busy ${m.vcpus.busyPercent} %, idle ${m.vcpus.idlePercent} %, steal ${m.vcpus.stealPercent} %)`;

const cpuLine = (r) => (r.cpuUs === undefined ? '' : `, CPU ${r.cpuUs} µs/ack${r.cpuByThreadUs ? ` (stream thread ${r.cpuByThreadUs.stream}, storage thread ${r.cpuByThreadUs.storage}, other threads ${r.cpuByThreadUs.other})` : ''}`);


/** The ingestion's own metrics, parsed: `name{labels}` → value. */
async function scrape(http) {
  const values = new Map();
  for (const line of (await (await fetch(`${http}/metrics`)).text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return { at: performance.now(), values };
}

/**
 * The scrape that starts the service's view of a load run: once the generator's streams are open
 * (its warm-up starts then), plus the warm-up, so the service's figures cover the measured part.
 */
async function scrapeAfterWarmup(http, streams) {
  const deadline = Date.now() + 30_000;
  while (((await metric(http, 'ingestion_active_streams')) ?? 0) < streams && Date.now() < deadline) await sleep(50);
  await sleep(WARMUP * 1000);
  return scrape(http);
}

/**
 * What the service itself saw between two scrapes: its ack latency (receive → ack written) by the
 * histogram's bucket bounds, the mean Kafka batch, its CPU use, and the event loop's delay (the
 * default metrics reset it at every scrape, so the second scrape covers the run).
 */
function serverView(before, after) {
  const d = (name) => (after.values.get(name) ?? 0) - (before.values.get(name) ?? 0);
  /** The bucket bound (ms) under which a fraction q of a histogram's observations fell between the scrapes. */
  const quantileMs = (histogram, q, label = '') => {
    const buckets = [...after.values.keys()]
      .filter((k) => k.startsWith(`${histogram}_bucket{`) && k.includes(label))
      .map((k) => ({ le: Number(/le="([^"]+)"/.exec(k)[1]), count: d(k) }))
      .sort((a, b) => a.le - b.le);
    const total = d(`${histogram}_count${label === '' ? '' : `{${label}}`}`);
    const bound = buckets.find((b) => b.count >= q * total)?.le;
    return total === 0 || bound === undefined || !Number.isFinite(bound) ? undefined : bound * 1000;
  };
  const seconds = (after.at - before.at) / 1000;
  const batches = d('ingestion_producer_batch_messages_count');
  const storageMs = (target) => ({
    p50LeMs: quantileMs('ingestion_storage_write_seconds', 0.5, `target="${target}"`),
    p99LeMs: quantileMs('ingestion_storage_write_seconds', 0.99, `target="${target}"`),
  });
  return {
    serverAckP50LeMs: quantileMs('ingestion_ack_latency_seconds', 0.5),
    serverAckP99LeMs: quantileMs('ingestion_ack_latency_seconds', 0.99),
    redisWrite: storageMs('redis'),
    kafkaProduce: storageMs('kafka'),
    meanKafkaBatch: batches > 0 ? Math.round(d('ingestion_producer_batch_messages_sum') / batches) : 0,
    cpuCores: Math.round((d('ingestion_process_cpu_seconds_total') / seconds) * 100) / 100,
    eventLoopDelayP99Ms: Math.round((after.values.get('ingestion_nodejs_eventloop_lag_p99_seconds') ?? 0) * 1e4) / 10,
    eventLoopDelayMaxMs: Math.round((after.values.get('ingestion_nodejs_eventloop_lag_max_seconds') ?? 0) * 1e4) / 10,
  };
}

const serverLine = (v) =>
  `service: ack p50 ≤ ${v.serverAckP50LeMs ?? '-'} ms, p99 ≤ ${v.serverAckP99LeMs ?? '-'} ms (receive → ack), ` +
  `Redis pipeline p50/p99 ≤ ${v.redisWrite.p50LeMs ?? '-'}/${v.redisWrite.p99LeMs ?? '-'} ms, ` +
  `Kafka produce p50/p99 ≤ ${v.kafkaProduce.p50LeMs ?? '-'}/${v.kafkaProduce.p99LeMs ?? '-'} ms, ` +
  `Kafka batch ${v.meanKafkaBatch} msgs, CPU ${v.cpuCores} cores, event loop delay p99 ${v.eventLoopDelayP99Ms} ms max ${v.eventLoopDelayMaxMs} ms`;

/** One load run of the simulator in its own process; resolves with its JSON summary. */
async function load(target, { cars, seconds, inflight, rate, threads, channels, prefix }) {
  const args = [
    '--mode', 'load', '--json', '--target', target, '--token', TOKEN,
    '--cars', String(cars), '--duration', String(seconds), '--warmup', String(WARMUP),
    '--threads', String(threads), '--channels', String(channels), '--car-prefix', prefix,
    ...(rate === undefined ? ['--inflight', String(inflight)] : ['--rate', String(rate)]),
  ];
  const sim = startChild('simulator', SIMULATOR_MAIN, args, { LOG_LEVEL: 'warn' });
  const { code } = await sim.exited;
  const line = sim.output().trim().split('\n').reverse().find((l) => l.startsWith('{"mode":"load"'));
  if (line === undefined) throw new Error(`the simulator printed no summary (exit ${code}):\n${sim.output().slice(-2000)}`);
  const summary = JSON.parse(line);
  // The bench's servers accept only its own token: a refusal stops the bench, it is no figure.
  if (summary.refusedToken) throw new Error(`${target} refused the simulator's token (${summary.refusedToken})`);
  return summary;
}

function shape(summary) {
  return {
    ackedPerSec: summary.ackedPerSec,
    p50: summary.latencyMs.p50,
    p99: summary.latencyMs.p99,
    p999: summary.latencyMs.p999,
    max: summary.latencyMs.max,
    acked: summary.acked,
    warmupAcked: summary.warmupAcked,
    failed: summary.failed,
    rejected: summary.rejected,
    reconnects: summary.reconnects,
    ...(summary.skipped ? { skipped: summary.skipped } : {}),
    ...(summary.firstError ? { firstError: summary.firstError } : {}),
  };
}

const channelsFor = (streams) => (streams === 1 ? 1 : Math.min(100, Math.max(THREADS * 2, Math.ceil(streams / STREAMS_PER_CHANNEL))));
const threadsFor = (streams) => (streams === 1 ? 1 : THREADS);
const ms = (v) => (v === undefined ? '-' : v.toFixed(2));
const pad = (v, n) => String(v).padStart(n);
const problems = (r) => (r.failed || r.rejected ? ` (failed ${r.failed}, rejected ${r.rejected}${r.firstError ? `: ${r.firstError}` : ''})` : '');

const runId = randomBytes(2).toString('hex');
const results = { topic: TOPIC, baseline: env.BENCH_BASELINE, note: env.BENCH_NOTE ?? 'shared 2-core machine', warmupSec: WARMUP, streams: [], steady: undefined, hold: undefined };
const redis = await connectRedis(REDIS_URL, log);
await redis.flushDb();

const ingestionPort = await freePort();
const httpPort = await freePort();
const echoPort = await freePort();
const http = `http://127.0.0.1:${httpPort}`;
const ingestion = startChild('ingestion', INGESTION_MAIN, [], {
  INGESTION_ADDR: `127.0.0.1:${ingestionPort}`,
  INGESTION_HTTP_ADDR: `127.0.0.1:${httpPort}`,
  REDIS_URL,
  KAFKA_BROKERS: BROKERS.join(','),
  FLEET_EVENTS_TOPIC: TOPIC,
  API_TOKENS: TOKEN, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0',
  LOG_LEVEL: 'warn',
}, env, startFlags(join(root, 'ingestion')));
const echo = startChild('echo', ECHO_MAIN, ['--addr', `127.0.0.1:${echoPort}`], { LOG_LEVEL: 'warn' });
const baselinePort = BASELINE_MAIN ? await freePort() : undefined;
const baselineHttp = BASELINE_MAIN ? `http://127.0.0.1:${await freePort()}` : undefined;
const baseline = BASELINE_MAIN
  ? startChild('baseline', BASELINE_MAIN, [], {
      INGESTION_ADDR: `127.0.0.1:${baselinePort}`,
      INGESTION_HTTP_ADDR: baselineHttp.slice('http://'.length),
      REDIS_URL,
      KAFKA_BROKERS: BROKERS.join(','),
      FLEET_EVENTS_TOPIC: `${TOPIC}-baseline`,
      API_TOKENS: TOKEN, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0',
      LOG_LEVEL: 'warn',
    }, env, startFlags(join(env.BENCH_BASELINE, 'ingestion')))
  : undefined;
// The service's path without Redis and Kafka, for part b's breakdown of the latency.
const noStoragePort = PARTS.has('steady') ? await freePort() : undefined;
const noStorage =
  noStoragePort === undefined
    ? undefined
    : startChild('no-storage', NO_STORAGE_MAIN, ['--addr', `127.0.0.1:${noStoragePort}`], { API_TOKENS: TOKEN, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0', LOG_LEVEL: 'warn' });
const ingestionTarget = `127.0.0.1:${ingestionPort}`;
const echoTarget = `127.0.0.1:${echoPort}`;

let exitCode = 0;
try {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (ingestion.child.exitCode !== null) throw new Error(`ingestion exited at start:\n${ingestion.output()}`);
    const ready = await fetch(`${http}/ready`).then((r) => r.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`ingestion not ready in 60 s:\n${ingestion.output()}`);
    await sleep(250);
  }
  while (baseline && !(await fetch(`${baselineHttp}/ready`).then((r) => r.status === 200, () => false))) {
    if (baseline.child.exitCode !== null) throw new Error(`baseline ingestion exited at start:\n${baseline.output()}`);
    await sleep(250);
  }
  const pid = ingestion.child.pid;
  console.log(
    `ingestion (pid ${pid}, topic ${TOPIC}, ${REDIS_URL}) vs bare grpc-js echo; load generator: simulator --mode load, ` +
      `${THREADS} threads, ${WARMUP} s warm-up per run not counted; ${results.note}; open files limit ${maxOpenFiles || '?'}; idle ingestion VmRSS ${rssMb(pid)} MB`,
  );

  // a) S streams as fast as acks allow.
  if (PARTS.has('streams')) console.log(`\na) streams as fast as acks allow, ${SECONDS} s each`);
  const serviceLines = [];
  if (PARTS.has('streams')) {
    console.log('                      |                 echo: ack latency ms  CPU  |  ingestion: ack latency ms  CPU   | ingestion ÷ echo');
    console.log('streams inflight chan |     echo/s    p50    p99  p99.9 µs/ack |  ingest/s    p50    p99  p99.9 µs/ack | msgs/s  CPU | ingestion peak RSS');
  }
  for (const streams of PARTS.has('streams') ? STREAMS : []) {
    const inflight = INFLIGHT.get(streams) ?? 1;
    const opts = { cars: streams, seconds: SECONDS, inflight, threads: threadsFor(streams), channels: channelsFor(streams) };
    const echoRun = await withCpu(echo.child.pid, undefined, () => load(echoTarget, { ...opts, prefix: `ECHO-${runId}-${streams}-` }));
    const e = { ...shape(echoRun.summary), cpuUs: echoRun.cpuUs, machine: echoRun.machine };
    const rss = rssSampler(pid);
    let before;
    const ingestionRun = await withCpu(pid, http, async () => {
      const run = load(ingestionTarget, { ...opts, prefix: `BENCH-${runId}-${streams}-` });
      before = await scrapeAfterWarmup(http, streams);
      return run;
    });
    const i = { ...shape(ingestionRun.summary), cpuUs: ingestionRun.cpuUs, cpuByThreadUs: ingestionRun.cpuByThreadUs, machine: ingestionRun.machine };
    const service = serverView(before, ingestionRun.scraped);
    const { peakMb } = rss.stop();
    const machineRatio = i.machine.totalUs > 0 ? Math.round((e.machine.totalUs / i.machine.totalUs) * 100) / 100 : null;
    const ratio = e.ackedPerSec > 0 ? Math.round((i.ackedPerSec / e.ackedPerSec) * 100) / 100 : null;
    const cpuRatio = e.cpuUs > 0 && i.cpuUs !== undefined ? Math.round((i.cpuUs / e.cpuUs) * 100) / 100 : null;
    results.streams.push({ streams, inflight, channels: opts.channels, threads: opts.threads, echo: e, ingestion: i, ratio, cpuRatio, machineRatio, ingestionPeakRssMb: peakMb, service });
    serviceLines.push(`${pad(streams, 7)} streams: ${serverLine(service)}${cpuLine(i)}`);
    serviceLines.push(
      `${pad(streams, 7)} streams: the machine's CPU per ack: echo run ${machineLine(e.machine)}; ingestion run ${machineLine(i.machine)}; ` +
        `echo's ÷ ingestion's ${machineRatio ?? '-'} (the throughput ratio two saturated cores allow)`,
    );
    if (baseline) {
      const baselineRun = await withCpu(baseline.child.pid, baselineHttp, () => load(`127.0.0.1:${baselinePort}`, { ...opts, prefix: `BASE-${runId}-${streams}-` }));
      const b = { ...shape(baselineRun.summary), cpuUs: baselineRun.cpuUs, cpuByThreadUs: baselineRun.cpuByThreadUs };
      results.streams[results.streams.length - 1].baseline = b;
      serviceLines.push(`${pad(streams, 7)} streams, baseline (${env.BENCH_BASELINE}): acked ${b.ackedPerSec}/s (÷ echo ${Math.round((b.ackedPerSec / e.ackedPerSec) * 100) / 100}), p99 ${ms(b.p99)} ms${cpuLine(b)} (÷ echo ${Math.round((b.cpuUs / e.cpuUs) * 100) / 100})${problems(b)}`);
    }
    console.log(
      `${pad(streams, 7)} ${pad(inflight, 8)} ${pad(opts.channels, 4)} | ${pad(e.ackedPerSec, 10)} ${pad(ms(e.p50), 6)} ${pad(ms(e.p99), 6)} ${pad(ms(e.p999), 6)} ${pad(e.cpuUs ?? '-', 6)} |` +
        ` ${pad(i.ackedPerSec, 9)} ${pad(ms(i.p50), 6)} ${pad(ms(i.p99), 6)} ${pad(ms(i.p999), 6)} ${pad(i.cpuUs ?? '-', 6)} | ${pad(ratio ?? '-', 5)} ${pad(cpuRatio ?? '-', 5)} | ${peakMb} MB` +
        problems(e) + problems(i),
    );
  }

  for (const line of serviceLines) console.log(line);

  // b) steady rates.
  if (PARTS.has('steady')) results.steadyRates = [];
  for (const STEADY_RATE of PARTS.has('steady') ? STEADY_RATES : []) {
    const streams = 100;
    const opts = { cars: streams, seconds: STEADY_SECONDS, rate: STEADY_RATE, threads: THREADS, channels: channelsFor(streams) };
    // The same rate against echo first: what the generator and the transport alone add to latency.
    const echoRun = await withCpu(echo.child.pid, undefined, () => load(echoTarget, { ...opts, prefix: `STEADY-ECHO-${runId}-` }));
    const e = { ...shape(echoRun.summary), cpuUs: echoRun.cpuUs };
    // Then the service's own path with Redis and Kafka taken out: what storage adds is the rest.
    const noStorageRun = await withCpu(noStorage.child.pid, undefined, () => load(`127.0.0.1:${noStoragePort}`, { ...opts, prefix: `STEADY-NOSTORE-${runId}-` }));
    const n = { ...shape(noStorageRun.summary), cpuUs: noStorageRun.cpuUs };
    let before;
    const ingestionRun = await withCpu(pid, http, async () => {
      const run = load(ingestionTarget, { ...opts, prefix: `STEADY-${runId}-` });
      before = await scrapeAfterWarmup(http, streams);
      return run;
    });
    const s = { ...shape(ingestionRun.summary), cpuUs: ingestionRun.cpuUs, cpuByThreadUs: ingestionRun.cpuByThreadUs };
    const service = serverView(before, ingestionRun.scraped);
    let baselineSteady;
    if (baseline) {
      const baselineRun = await withCpu(baseline.child.pid, baselineHttp, () => load(`127.0.0.1:${baselinePort}`, { ...opts, prefix: `STEADY-BASE-${runId}-` }));
      baselineSteady = { ...shape(baselineRun.summary), cpuUs: baselineRun.cpuUs, cpuByThreadUs: baselineRun.cpuByThreadUs };
    }
    const p99RatioToEcho = Math.round((s.p99 / e.p99) * 100) / 100;
    const steady = {
      ...(baselineSteady ? { baseline: baselineSteady } : {}),
      rate: STEADY_RATE, streams, seconds: STEADY_SECONDS, ...s, echo: e, withoutStorage: n, service,
      p99RatioToEcho, targetP99RatioToEcho: 2.5, meetsTarget: p99RatioToEcho <= 2.5 && s.failed === 0,
    };
    results.steadyRates.push(steady);
    results.steady ??= steady;
    console.log(`\nb) steady ${STEADY_RATE} msgs/s over ${streams} streams for ${STEADY_SECONDS} s`);
    const line = (name, r) =>
      `   ${name} acked ${r.ackedPerSec}/s  ack latency ms p50 ${ms(r.p50)}  p99 ${ms(r.p99)}  p99.9 ${ms(r.p999)}  max ${ms(r.max)}` +
      `${problems(r)}${r.skipped ? `, skipped ${r.skipped}` : ''}${cpuLine(r)}`;
    console.log(line('echo                  ', e));
    console.log(line('ingestion w/o storage ', n));
    console.log(line('ingestion             ', s) + `  (p99 ÷ echo ${p99RatioToEcho}; target ≤ 2.5: ${steady.meetsTarget ? 'met' : 'NOT met'})`);
    if (baselineSteady) console.log(line('baseline ingestion    ', baselineSteady));
    console.log(`   ${serverLine(service)}`);
  }

  // c) many streams held open, one message per second each.
  if (PARTS.has('hold')) {
    const streams = HOLD_STREAMS;
    const opts = { cars: streams, seconds: HOLD_SECONDS, rate: streams, threads: THREADS, channels: channelsFor(streams) };
    const before = rssMb(pid);
    const rss = rssSampler(pid);
    let openMid;
    let rssAtEnd;
    let openAtEnd;
    const probes = [
      sleep(WARMUP * 1000 + (HOLD_SECONDS * 1000) / 2).then(async () => (openMid = await metric(http, 'ingestion_active_streams'))),
      // "end": the last moment all streams are still open and sending, just before the generator stops.
      sleep((WARMUP + HOLD_SECONDS) * 1000 - 500).then(async () => {
        rssAtEnd = rss.now();
        openAtEnd = await metric(http, 'ingestion_active_streams');
      }),
    ];
    const scraped = await scrape(http);
    const h = shape(await load(ingestionTarget, { ...opts, prefix: `HOLD-${runId}-` }));
    await Promise.all(probes);
    const service = serverView(scraped, await scrape(http));
    const { peakMb } = rss.stop();
    results.hold = {
      streams, seconds: HOLD_SECONDS, channels: opts.channels, ...h, service,
      activeStreamsMid: openMid, activeStreamsEnd: openAtEnd,
      rssBeforeMb: before, rssPeakMb: peakMb, rssEndMb: rssAtEnd, targetRssMb: 1024, meetsTarget: peakMb <= 1024,
    };
    console.log(`\nc) ${streams} streams held open over ${opts.channels} connections, 1 msg/s each, ${HOLD_SECONDS} s`);
    console.log(
      `   active streams mid-run ${openMid}, at the end ${openAtEnd}; acked ${h.ackedPerSec}/s, p50 ${ms(h.p50)} p99 ${ms(h.p99)} p99.9 ${ms(h.p999)} ms${problems(h)}`,
    );
    console.log(
      `   ingestion VmRSS: before ${before} MB, peak ${peakMb} MB, end ${rssAtEnd} MB (target ≤ 1024 MB: ${results.hold.meetsTarget ? 'met' : 'NOT met'})`,
    );
    console.log(`   ${serverLine(service)} (event loop: second half)`);
  }

  const offsets = await (async () => {
    const admin = createKafka({ brokers: BROKERS, clientId: 'ingestion-bench', log, quiet: true }).admin();
    await admin.connect();
    try {
      return (await admin.fetchTopicOffsets(TOPIC)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    } finally {
      await admin.disconnect();
    }
  })();
  const ackedByIngestion = [...results.streams.map((r) => r.ingestion), ...(results.steadyRates ?? []), results.hold]
    .filter((r) => r !== undefined)
    .reduce((n, r) => n + r.acked + r.warmupAcked, 0);
  results.topicEvents = offsets;
  results.ackedByIngestion = ackedByIngestion;
  console.log(`\nthe topic holds ${offsets} events; ingestion acknowledged ${ackedByIngestion} (every ack is an event: ${offsets >= ackedByIngestion ? 'yes' : 'NO'})`);
  if (offsets < ackedByIngestion) exitCode = 1;
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  exitCode = 1;
} finally {
  const [ingestionExit] = await Promise.all([stopChild(ingestion), stopChild(echo), noStorage && stopChild(noStorage), baseline && stopChild(baseline)]);
  if (ingestionExit.code !== 0) {
    console.error(`ingestion exited ${JSON.stringify(ingestionExit)}:\n${ingestion.output().slice(-3000)}`);
    exitCode = 1;
  }
  const admin = createKafka({ brokers: BROKERS, clientId: 'ingestion-bench', log, quiet: true }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [TOPIC, ...(baseline ? [`${TOPIC}-baseline`] : [])] }).catch((e) => console.error(`could not delete ${TOPIC}: ${e.message}`));
  await admin.disconnect();
  await redis.flushDb();
  await redis.quit();
}
results.elapsedSec = Math.round(performance.now() / 1000);
console.log(`(${results.elapsedSec} s in all)`);
// Kept in git beside the end-to-end results, as the record of what was measured.
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const resultsFile = join(root, 'bench', 'results', `ingestion-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(resultsFile, JSON.stringify({ at: new Date().toISOString(), bench: 'ingestion-throughput', ...results }, null, 2));
console.log(`results: ${resultsFile}`);
console.log(JSON.stringify({ bench: 'ingestion-throughput', ...results }));
process.exitCode = exitCode;
