#!/usr/bin/env node
// What TLS costs the vehicle port (issue 18: throughput and ack p99 with TLS at 0.85 of plaintext
// or better), through the real Redis and Kafka. Runs the COMPILED programs (npx tsc -b ingestion
// simulator first):
//   - three ingestions as child processes, up together, one per transport: plaintext; TLS with the
//     server certificate (INGESTION_TLS_CERT/KEY); mutual TLS (INGESTION_TLS_CLIENT_CA too, the car
//     named by its certificate's CN). One topic (deleted at the end), Redis db 7 (FLUSHed: the
//     bench's database), production defaults otherwise, but INGESTION_STREAM_RATE=0 and
//     INGESTION_CAR_RATE=0 so the rate limits do not shape the figures;
//   - certificates by scripts/certs.mjs in a temporary directory (BENCH_CERTS_DIR to reuse one):
//     one per car of the load (mutual TLS: the simulator's --cert-dir) and per handshake car;
//   - the simulator's load mode as the load generator, in its own process, once per case; every
//     case BENCH_CARS cars (200) over as many connections (one per car, as a real fleet: --cert-dir
//     needs it, and plaintext and TLS get --channels BENCH_CARS to match);
//   - with BENCH_PARTS including echo, the simulator's bare grpc-js echo server the same three ways
//     (what TLS costs the transport alone).
//
//   node ingestion/bench/tls.mjs
//
// a) throughput: as fast as acks allow (BENCH_INFLIGHT, 4, per stream) for BENCH_SECONDS (10):
//    acked msgs/s, ack p99, the ingestion's CPU per ack; TLS and mutual TLS ÷ plaintext;
// b) steady: BENCH_RATE msgs/s (5000) for BENCH_SECONDS: ack p50/p99/p99.9; plaintext p99 ÷ TLS
//    p99 (so that, as for throughput, 1 is parity and the issue's target is ≥ 0.85);
// c) handshakes: while a steady BENCH_HANDSHAKE_LOAD_RATE msgs/s (BENCH_RATE) flows over
//    BENCH_CARS streams, BENCH_HANDSHAKE_CONCURRENCY (8) loops each open a fresh connection
//    (its own TLS handshake) and stream, send one CarStatus, await its ack, and close, for
//    BENCH_SECONDS: new streams/s sustained, connect→ack p50/p99, and the telemetry's p99 during
//    it (beside b's, without handshakes); TLS and mutual TLS (plaintext as the reference).
// Every load run starts with BENCH_WARMUP seconds (2) sent but not counted. BENCH_ROUNDS (1) runs
// each case that many times, the transports in turn, and reports the medians (the machine's
// drift then blurs no transport more than another). Other knobs: BENCH_PARTS (throughput,steady,
// handshakes,echo), BENCH_THREADS (2), BENCH_HANDSHAKE_CARS (50), BENCH_REDIS_URL, KAFKA_BROKERS,
// BENCH_NOTE. Prints a table and, last, one JSON line with every figure (also written to
// bench/results/ingestion-tls-<time>.json).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { cpuSeconds, metric, sleep, startChild, startFlags, stopChild } from './kit.mjs';


const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const INGESTION_MAIN = join(root, 'ingestion', 'dist', 'src', 'main.js');
const SIMULATOR_MAIN = join(root, 'simulator', 'dist', 'src', 'main.js');
const ECHO_MAIN = join(root, 'simulator', 'dist', 'src', 'echo-server.js');
const CERTS_SCRIPT = join(root, 'scripts', 'certs.mjs');
const TOKEN = 'bench-token';


// ---------------------------------------------------------------------------------------------
// The handshake driver: this file run as a child (`tls.mjs --handshake-driver JSON`), so its
// handshakes cost the generator's CPU, not the bench's own loop. Each of `concurrency` loops: a
// new client (its own connection: a local subchannel pool and a channel id of its own), one
// stream, one CarStatus, its ack, the stream ended, the client closed. Prints one JSON line.
// ---------------------------------------------------------------------------------------------
async function handshakeDriver(config) {
  const grpc = await import('@grpc/grpc-js');
  const { BookingStatus, FleetServiceClient } = await import('@greenlane/common/gen/fleet/fleet');
  // Credentials once per car: a secure context is parsed once, each connection still handshakes.
  const credentials = config.carIds.map((car) => {
    if (config.transport === 'plaintext') return grpc.credentials.createInsecure();
    const ca = readFileSync(config.ca);
    if (config.transport === 'tls') return grpc.credentials.createSsl(ca);
    return grpc.credentials.createSsl(ca, readFileSync(join(config.certDir, `${car}-key.pem`)), readFileSync(join(config.certDir, `${car}.pem`)));
  });
  const metadata = new grpc.Metadata();
  metadata.set('x-api-token', config.token);
  const latencies = [];
  const errors = {};
  let channelId = 1_000_000;
  let next = 0;
  const until = performance.now() + config.seconds * 1000;

  const once = (index) =>
    new Promise((resolve) => {
      const car = config.carIds[index];
      const client = new FleetServiceClient(config.target, credentials[index], {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.channel_id': channelId++,
        'grpc.enable_retries': 0,
      });
      const started = performance.now();
      let acked = false;
      const done = (error) => {
        if (error) errors[error] = (errors[error] ?? 0) + 1;
        client.close();
        resolve();
      };
      const call = client.streamTelemetry(metadata, { deadline: Date.now() + 10_000 });
      call.on('data', (response) => {
        if (acked) return;
        acked = true;
        if (response.status === BookingStatus.BOOKING_FAILED) {
          const key = `BOOKING_FAILED: ${response.message}`.slice(0, 120);
          errors[key] = (errors[key] ?? 0) + 1;
        } else {
          latencies.push(performance.now() - started);
        }
        call.end();
      });
      call.on('status', (status) => done(status.code === 0 || acked ? undefined : `${grpc.status[status.code]}: ${status.details}`.slice(0, 160)));
      call.on('error', () => {});
      call.write({
        carId: car, latitude: 40.75, longitude: -73.98, batteryLevel: 60, velocity: 20, timestamp: Date.now(),
        stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined,
      });
    });

  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    Array.from({ length: config.concurrency }, async () => {
      while (performance.now() < until) await once(next++ % config.carIds.length);
    }),
  );
  const elapsedSec = (performance.now() - started) / 1000;
  // The driver's own CPU: which side of the handshakes is the bottleneck (the client's is as dear as the server's).
  const cpu = process.cpuUsage(cpuBefore);
  const cpuCores = Math.round(((cpu.user + cpu.system) / 1e6 / elapsedSec) * 100) / 100;
  latencies.sort((a, b) => a - b);
  const q = (p) => (latencies.length === 0 ? null : Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 100) / 100);
  process.stdout.write(JSON.stringify({
    driver: 'handshakes', transport: config.transport, concurrency: config.concurrency, completed: latencies.length,
    failed: Object.values(errors).reduce((a, b) => a + b, 0), errors, elapsedSec: Math.round(elapsedSec * 1000) / 1000,
    perSec: Math.round((latencies.length / elapsedSec) * 10) / 10, latencyMs: { p50: q(0.5), p99: q(0.99), max: q(1) }, cpuCores,
  }) + '\n');
}

if (process.argv[2] === '--handshake-driver') {
  await handshakeDriver(JSON.parse(process.argv[3]));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The bench.
// ---------------------------------------------------------------------------------------------
const { connectRedis, createKafka, createLogger } = await import('@greenlane/common');
const { freePort } = await import('@greenlane/common/testing-kafka');

const env = process.env;
const num = (name, fallback, min = 1) => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min}, got ${env[name]}`);
  return value;
};
const CARS = num('BENCH_CARS', 200);
const SECONDS = num('BENCH_SECONDS', 10);
const WARMUP = num('BENCH_WARMUP', 2, 0);
const INFLIGHT = num('BENCH_INFLIGHT', 4);
const RATE = num('BENCH_RATE', 5000);
const HANDSHAKE_LOAD_RATE = num('BENCH_HANDSHAKE_LOAD_RATE', RATE);
const HANDSHAKE_CONCURRENCY = num('BENCH_HANDSHAKE_CONCURRENCY', 8);
const HANDSHAKE_CARS = num('BENCH_HANDSHAKE_CARS', 50);
const THREADS = num('BENCH_THREADS', 2);
const ROUNDS = num('BENCH_ROUNDS', 1);
const PARTS = new Set((env.BENCH_PARTS ?? 'throughput,steady,handshakes,echo').split(','));
const REDIS_URL = env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/7';
const BROKERS = (env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const TARGET_RATIO = 0.85;
const TRANSPORTS = ['plaintext', 'tls', 'mtls'];
const LABEL = { plaintext: 'plaintext', tls: 'TLS', mtls: 'mutual TLS' };
const log = createLogger('tls-bench', { LOG_LEVEL: 'error' });

for (const main of [INGESTION_MAIN, SIMULATOR_MAIN, ECHO_MAIN]) {
  try {
    readFileSync(main);
  } catch {
    console.error(`${main} is missing: run \`npx tsc -b ingestion simulator\` first`);
    process.exit(1);
  }
}

const runId = randomBytes(2).toString('hex').toUpperCase();
const TOPIC = `bench-tls-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
// Car ids are the certificates' CNs (mutual TLS): the load's cars, and the handshake loops' own.
const LOAD_PREFIX = 'BTLS-';
const HANDSHAKE_PREFIX = 'BHS-';
const carIds = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(3, '0')}`);
const loadCars = carIds(LOAD_PREFIX, CARS);
const handshakeCars = carIds(HANDSHAKE_PREFIX, HANDSHAKE_CARS);

const certsDir = env.BENCH_CERTS_DIR ?? mkdtempSync(join(tmpdir(), 'bench-tls-certs-'));
const madeCerts = env.BENCH_CERTS_DIR === undefined;
const certsStarted = performance.now();
// scripts/certs.mjs keeps what exists: with BENCH_CERTS_DIR a second run makes nothing.
execFileSync(process.execPath, [CERTS_SCRIPT, '--out', certsDir, '--car-ids', [...loadCars, ...handshakeCars].join(',')], { stdio: ['ignore', 'ignore', 'inherit'] });
const certs = {
  ca: join(certsDir, 'ca.pem'),
  cert: join(certsDir, 'server.pem'),
  key: join(certsDir, 'server-key.pem'),
  cars: join(certsDir, 'cars'),
};
const certsSec = Math.round((performance.now() - certsStarted) / 100) / 10;





/** The simulator's flags for a transport: what each car presents. */
function transportArgs(transport) {
  if (transport === 'plaintext') return ['--channels', String(CARS)];
  if (transport === 'tls') return ['--tls-ca', certs.ca, '--channels', String(CARS)];
  return ['--tls-ca', certs.ca, '--cert-dir', certs.cars];
}

/** One load run of the simulator in its own process; resolves with its JSON summary. */
async function load(target, transport, { seconds, inflight, rate }) {
  const args = [
    '--mode', 'load', '--json', '--target', target, '--token', TOKEN,
    '--cars', String(CARS), '--duration', String(seconds), '--warmup', String(WARMUP),
    '--threads', String(THREADS), '--car-prefix', LOAD_PREFIX, ...transportArgs(transport),
    ...(rate === undefined ? ['--inflight', String(inflight)] : ['--rate', String(rate)]),
  ];
  const sim = startChild('simulator', SIMULATOR_MAIN, args, { LOG_LEVEL: 'warn' });
  const { code } = await sim.exited;
  const line = sim.output().trim().split('\n').reverse().find((l) => l.startsWith('{"mode":"load"'));
  if (line === undefined) throw new Error(`the simulator printed no summary (exit ${code}, ${transport}):\n${sim.output().slice(-2000)}`);
  const summary = JSON.parse(line);
  if (summary.refusedToken) throw new Error(`${target} refused the simulator's token (${summary.refusedToken})`);
  return summary;
}

/** A load run with the server's CPU over it (µs per acknowledged message, warm-up included). */
async function withCpu(pid, run) {
  const before = cpuSeconds(pid);
  const started = performance.now();
  const summary = await run();
  const cpu = cpuSeconds(pid) - before;
  const acks = summary.acked + summary.warmupAcked;
  return { summary, cpuUs: acks > 0 ? Math.round((cpu * 1e6 * 10) / acks) / 10 : undefined, cpuCores: Math.round((cpu / ((performance.now() - started) / 1000)) * 100) / 100 };
}

function shape({ summary, cpuUs, cpuCores }) {
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
    cpuUs,
    cpuCores,
    ...(summary.skipped ? { skipped: summary.skipped } : {}),
    ...(summary.firstError ? { firstError: summary.firstError } : {}),
  };
}

const median = (values) => {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
/** The medians of a case's rounds (each round kept beside them). */
function summarizeRounds(runs) {
  const out = {};
  for (const key of ['ackedPerSec', 'p50', 'p99', 'p999', 'max', 'cpuUs', 'cpuCores']) out[key] = median(runs.map((r) => r[key]));
  for (const key of ['acked', 'failed', 'rejected', 'reconnects']) out[key] = runs.reduce((n, r) => n + r[key], 0);
  const firstError = runs.find((r) => r.firstError)?.firstError;
  return { ...out, ...(firstError ? { firstError } : {}), ...(runs.length > 1 ? { rounds: runs } : {}) };
}

const round2 = (v) => (v === undefined || !Number.isFinite(v) ? null : Math.round(v * 100) / 100);
const ms = (v) => (v === undefined || v === null ? '-' : v.toFixed(2));
const pad = (v, n) => String(v ?? '-').padStart(n);
const problems = (r) => (r.failed || r.rejected ? ` (failed ${r.failed}, rejected ${r.rejected}${r.firstError ? `: ${r.firstError}` : ''})` : '');
const verdict = (ratio) => (ratio === null ? '-' : ratio >= TARGET_RATIO ? 'met' : 'NOT met');

/** The 1-minute load average: on a shared machine, what else competed for the cores. */
const loadAverage = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const results = {
  topic: TOPIC, note: env.BENCH_NOTE ?? 'shared 2-core machine', loadAverage: { start: loadAverage(), end: undefined }, cars: CARS, threads: THREADS, warmupSec: WARMUP, seconds: SECONDS, rounds: ROUNDS,
  targetRatio: TARGET_RATIO, certsDir: madeCerts ? undefined : certsDir, certsSec,
  throughput: undefined, steady: undefined, handshakes: undefined, echo: undefined,
};
const redis = await connectRedis(REDIS_URL, log);
await redis.flushDb();

// The three ingestions, each its own ports, all on the bench's topic and Redis database.
const servers = {};
for (const transport of TRANSPORTS) {
  const port = await freePort();
  const httpPort = await freePort();
  const security =
    transport === 'plaintext' ? {} : { INGESTION_TLS_CERT: certs.cert, INGESTION_TLS_KEY: certs.key, ...(transport === 'mtls' ? { INGESTION_TLS_CLIENT_CA: certs.ca } : {}) };
  servers[transport] = {
    target: `127.0.0.1:${port}`,
    http: `http://127.0.0.1:${httpPort}`,
    proc: startChild(`ingestion-${transport}`, INGESTION_MAIN, [], {
      INGESTION_ADDR: `127.0.0.1:${port}`,
      INGESTION_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      REDIS_URL,
      KAFKA_BROKERS: BROKERS.join(','),
      FLEET_EVENTS_TOPIC: TOPIC,
      API_TOKENS: TOKEN,
      // A load generator drives hundreds of cars, and the handshake loops hundreds of streams a
      // second, from one address: the per-car and per-address limits would be the figures otherwise.
      INGESTION_CAR_RATE: '0',
      INGESTION_STREAM_RATE: '0',
      INGESTION_INSTANCE_ID: `bench-tls-${transport}-${runId}`,
      LOG_LEVEL: 'warn',
      ...security,
    }, process.env, startFlags(join(root, 'ingestion'))),
  };
  // One at a time: the first creates the topic, the others find it.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const proc = servers[transport].proc;
    if (proc.child.exitCode !== null) throw new Error(`ingestion (${transport}) exited at start:\n${proc.output()}`);
    if (await fetch(`${servers[transport].http}/ready`).then((r) => r.status === 200, () => false)) break;
    if (Date.now() > deadline) throw new Error(`ingestion (${transport}) not ready in 60 s:\n${proc.output()}`);
    await sleep(250);
  }
}
const echoes = {};
if (PARTS.has('echo')) {
  for (const transport of TRANSPORTS) {
    const port = await freePort();
    const tlsArgs = transport === 'plaintext' ? [] : ['--tls-cert', certs.cert, '--tls-key', certs.key, ...(transport === 'mtls' ? ['--tls-client-ca', certs.ca] : [])];
    echoes[transport] = { target: `127.0.0.1:${port}`, proc: startChild(`echo-${transport}`, ECHO_MAIN, ['--addr', `127.0.0.1:${port}`, ...tlsArgs], { LOG_LEVEL: 'warn' }) };
  }
  await sleep(1000);
}

/** Runs `one(transport)` for every transport, ROUNDS times in turn; returns each transport's rounds. */
async function rounds(one) {
  const out = { plaintext: [], tls: [], mtls: [] };
  for (let r = 0; r < ROUNDS; r++) for (const transport of TRANSPORTS) out[transport].push(await one(transport));
  return out;
}

/** The handshake part for one transport: the steady load and the handshake loops together. */
async function handshakes(transport) {
  const server = servers[transport];
  const pid = server.proc.child.pid;
  const background = load(server.target, transport, { seconds: SECONDS, rate: HANDSHAKE_LOAD_RATE });
  // The loops start with the measured part of the steady load: once its streams are open and warmed up.
  const deadline = Date.now() + 30_000;
  while (((await metric(server.http, 'ingestion_active_streams')) ?? 0) < CARS && Date.now() < deadline) await sleep(50);
  await sleep(WARMUP * 1000);
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const driverConfig = {
    target: server.target, transport, ca: certs.ca, certDir: certs.cars, carIds: handshakeCars, token: TOKEN,
    concurrency: HANDSHAKE_CONCURRENCY, seconds: Math.max(1, SECONDS - 0.5),
  };
  const driver = startChild('handshakes', fileURLToPath(import.meta.url), ['--handshake-driver', JSON.stringify(driverConfig)], { LOG_LEVEL: 'warn' });
  await driver.exited;
  const cpuCores = Math.round(((cpuSeconds(pid) - cpuBefore) / ((performance.now() - started) / 1000)) * 100) / 100;
  const line = driver.output().trim().split('\n').reverse().find((l) => l.startsWith('{"driver"'));
  if (line === undefined) throw new Error(`the handshake driver printed nothing (${transport}):\n${driver.output().slice(-2000)}`);
  const streams = JSON.parse(line);
  const telemetry = shape({ summary: await background, cpuUs: undefined, cpuCores: undefined });
  return { streams, telemetry, ingestionCpuCores: cpuCores };
}

let exitCode = 0;
try {
  console.log(
    `ingestion: plaintext vs TLS vs mutual TLS (three instances, topic ${TOPIC}, ${REDIS_URL}); load generator: simulator --mode load, ` +
      `${CARS} cars over ${CARS} connections, ${THREADS} threads, ${WARMUP} s warm-up per run not counted; ${ROUNDS} round(s); ${results.note}; load average ${results.loadAverage.start}` +
      `; certificates ${madeCerts ? `made in ${certsSec} s` : `from ${certsDir}`}`,
  );

  // a) throughput.
  if (PARTS.has('throughput')) {
    const runs = await rounds(async (transport) => shape(await withCpu(servers[transport].proc.child.pid, () => load(servers[transport].target, transport, { seconds: SECONDS, inflight: INFLIGHT }))));
    const by = Object.fromEntries(TRANSPORTS.map((t) => [t, summarizeRounds(runs[t])]));
    const ratio = (t) => round2(by[t].ackedPerSec / by.plaintext.ackedPerSec);
    const cpuRatio = (t) => round2(by[t].cpuUs / by.plaintext.cpuUs);
    results.throughput = { inflight: INFLIGHT, ...by, ratio: { tls: ratio('tls'), mtls: ratio('mtls') }, cpuRatio: { tls: cpuRatio('tls'), mtls: cpuRatio('mtls') } };
    console.log(`\na) as fast as acks allow, ${INFLIGHT} in flight per stream, ${SECONDS} s`);
    console.log('transport   |   acked/s    p50    p99  p99.9 | ingestion CPU µs/ack cores | acked/s ÷ plaintext  CPU/ack ÷ plaintext');
    for (const t of TRANSPORTS) {
      const r = by[t];
      const rel = t === 'plaintext' ? '' : `${pad(ratio(t), 19)} (${verdict(ratio(t))})  ${pad(cpuRatio(t), 5)}`;
      console.log(`${LABEL[t].padEnd(11)} | ${pad(r.ackedPerSec, 9)} ${pad(ms(r.p50), 6)} ${pad(ms(r.p99), 6)} ${pad(ms(r.p999), 6)} | ${pad(r.cpuUs, 20)} ${pad(r.cpuCores, 5)} | ${rel}${problems(r)}`);
    }
  }

  // b) steady rate.
  if (PARTS.has('steady')) {
    const runs = await rounds(async (transport) => shape(await withCpu(servers[transport].proc.child.pid, () => load(servers[transport].target, transport, { seconds: SECONDS, rate: RATE }))));
    const by = Object.fromEntries(TRANSPORTS.map((t) => [t, summarizeRounds(runs[t])]));
    // Plaintext's p99 over TLS's: 1 is parity, below it TLS is slower; the same target as throughput.
    const ratio = (t) => round2(by.plaintext.p99 / by[t].p99);
    results.steady = { rate: RATE, ...by, p99Ratio: { tls: ratio('tls'), mtls: ratio('mtls') }, p99Over: { tls: round2(by.tls.p99 / by.plaintext.p99), mtls: round2(by.mtls.p99 / by.plaintext.p99) } };
    console.log(`\nb) steady ${RATE} msgs/s over ${CARS} streams, ${SECONDS} s`);
    console.log('transport   |   acked/s    p50    p99  p99.9    max | ingestion CPU µs/ack cores | plaintext p99 ÷ p99 (TLS p99 ÷ plaintext)');
    for (const t of TRANSPORTS) {
      const r = by[t];
      const sustained = r.ackedPerSec >= RATE * 0.95 ? '' : ` (asked ${RATE}/s: not sustained)`;
      const rel = t === 'plaintext' ? '' : `${pad(ratio(t), 19)} (${verdict(ratio(t))}; ×${results.steady.p99Over[t]})`;
      console.log(`${LABEL[t].padEnd(11)} | ${pad(r.ackedPerSec, 9)} ${pad(ms(r.p50), 6)} ${pad(ms(r.p99), 6)} ${pad(ms(r.p999), 6)} ${pad(ms(r.max), 6)} | ${pad(r.cpuUs, 20)} ${pad(r.cpuCores, 5)} | ${rel}${sustained}${problems(r)}`);
    }
  }

  // c) handshakes under a steady load.
  if (PARTS.has('handshakes')) {
    const runs = await rounds(handshakes);
    results.handshakes = { concurrency: HANDSHAKE_CONCURRENCY, loadRate: HANDSHAKE_LOAD_RATE, cars: HANDSHAKE_CARS };
    console.log(`\nc) new connections + streams (connect, one CarStatus, its ack, close) by ${HANDSHAKE_CONCURRENCY} loops, under a steady ${HANDSHAKE_LOAD_RATE} msgs/s over ${CARS} streams, ${SECONDS} s`);
    console.log('transport   | new streams/s  connect→ack p50    p99 failed | telemetry acked/s    p99  p99.9 | ingestion cores  driver cores');
    for (const t of TRANSPORTS) {
      const list = runs[t];
      const s = {
        perSec: median(list.map((r) => r.streams.perSec)),
        p50: median(list.map((r) => r.streams.latencyMs.p50)),
        p99: median(list.map((r) => r.streams.latencyMs.p99)),
        failed: list.reduce((n, r) => n + r.streams.failed, 0),
        errors: Object.assign({}, ...list.map((r) => r.streams.errors)),
        driverCpuCores: median(list.map((r) => r.streams.cpuCores)),
      };
      const telemetry = summarizeRounds(list.map((r) => r.telemetry));
      const cores = median(list.map((r) => r.ingestionCpuCores));
      results.handshakes[t] = { streams: s, telemetry, ingestionCpuCores: cores, ...(list.length > 1 ? { rounds: list } : {}) };
      const steadyP99 = results.steady?.[t]?.p99;
      const errorLine = s.failed ? ` (${Object.entries(s.errors).map(([e, n]) => `${n}× ${e}`).join('; ')})` : '';
      console.log(
        `${LABEL[t].padEnd(11)} | ${pad(s.perSec, 13)} ${pad(ms(s.p50), 16)} ${pad(ms(s.p99), 6)} ${pad(s.failed, 6)} | ${pad(telemetry.ackedPerSec, 17)} ${pad(ms(telemetry.p99), 6)} ${pad(ms(telemetry.p999), 6)} | ${pad(cores, 15)} ${pad(s.driverCpuCores, 13)}` +
          `${steadyP99 !== undefined && HANDSHAKE_LOAD_RATE === RATE ? `  (p99 without handshakes: ${ms(steadyP99)})` : ''}${errorLine}${problems(telemetry)}`,
      );
    }
  }

  // d) the transport alone: the echo server the same three ways.
  if (PARTS.has('echo')) {
    const runs = await rounds(async (transport) => shape(await withCpu(echoes[transport].proc.child.pid, () => load(echoes[transport].target, transport, { seconds: SECONDS, inflight: INFLIGHT }))));
    const by = Object.fromEntries(TRANSPORTS.map((t) => [t, summarizeRounds(runs[t])]));
    const ratio = (t) => round2(by[t].ackedPerSec / by.plaintext.ackedPerSec);
    results.echo = { inflight: INFLIGHT, ...by, ratio: { tls: ratio('tls'), mtls: ratio('mtls') } };
    console.log(`\nd) bare grpc-js echo server, as fast as acks allow, ${INFLIGHT} in flight per stream, ${SECONDS} s: what TLS costs the transport itself`);
    console.log('transport   |   acked/s    p50    p99 | echo CPU µs/ack | acked/s ÷ plaintext');
    for (const t of TRANSPORTS) {
      const r = by[t];
      console.log(`${LABEL[t].padEnd(11)} | ${pad(r.ackedPerSec, 9)} ${pad(ms(r.p50), 6)} ${pad(ms(r.p99), 6)} | ${pad(r.cpuUs, 15)} | ${t === 'plaintext' ? '' : pad(ratio(t), 19)}${problems(r)}`);
    }
  }

  // The summary the issue asks for: each ratio against its target.
  const lines = [];
  for (const t of ['tls', 'mtls']) {
    if (results.throughput) {
      lines.push(`${LABEL[t]} throughput ÷ plaintext ${results.throughput.ratio[t]} (target ≥ ${TARGET_RATIO}: ${verdict(results.throughput.ratio[t])}); the ingestion's CPU per ack ×${results.throughput.cpuRatio[t]}`);
    }
    if (results.steady) lines.push(`${LABEL[t]} steady p99: plaintext ÷ ${LABEL[t]} ${results.steady.p99Ratio[t]} (target ≥ ${TARGET_RATIO}: ${verdict(results.steady.p99Ratio[t])})`);
    if (results.handshakes) lines.push(`${LABEL[t]} new streams/s sustained ${results.handshakes[t].streams.perSec} (connect→ack p99 ${ms(results.handshakes[t].streams.p99)} ms), telemetry p99 meanwhile ${ms(results.handshakes[t].telemetry.p99)} ms`);
  }
  if (lines.length) console.log(`\nsummary:\n  ${lines.join('\n  ')}`);
  const ratios = [results.throughput?.ratio.tls, results.throughput?.ratio.mtls, results.steady?.p99Ratio.tls, results.steady?.p99Ratio.mtls].filter((r) => r !== undefined);
  results.meetsTarget = ratios.every((r) => r !== null && r >= TARGET_RATIO);
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  exitCode = 1;
} finally {
  const exits = await Promise.all(Object.values(servers).map((s) => stopChild(s.proc)));
  await Promise.all(Object.values(echoes).map((e) => stopChild(e.proc)));
  for (const [i, exit] of exits.entries()) {
    if (exit.code !== 0) {
      const s = Object.values(servers)[i];
      console.error(`${s.proc.name} exited ${JSON.stringify(exit)}:\n${s.proc.output().slice(-3000)}`);
      exitCode = 1;
    }
  }
  const admin = createKafka({ brokers: BROKERS, clientId: 'tls-bench', log, quiet: true }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [TOPIC] }).catch((e) => console.error(`could not delete ${TOPIC}: ${e.message}`));
  await admin.disconnect();
  await redis.flushDb();
  await redis.quit();
  if (madeCerts) rmSync(certsDir, { recursive: true, force: true });
}
results.elapsedSec = Math.round(performance.now() / 1000);
results.loadAverage.end = loadAverage();
console.log(`(${results.elapsedSec} s in all; load average ${results.loadAverage.start} at the start, ${results.loadAverage.end} at the end)`);
// Kept in git beside the other results, as the record of what was measured.
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const resultsFile = join(root, 'bench', 'results', `ingestion-tls-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(resultsFile, JSON.stringify({ at: new Date().toISOString(), bench: 'ingestion-tls', ...results }, null, 2));
console.log(`results: ${resultsFile}`);
console.log(JSON.stringify({ bench: 'ingestion-tls', ...results }));
process.exitCode = exitCode;
