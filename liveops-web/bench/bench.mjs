#!/usr/bin/env node
// The live map under load (issue 17): the simulator in load mode (10,000 cars, 1 message/s each)
// -> a private ingestion -> Kafka (a topic of its own) -> liveops-web -> BENCH_BROWSERS pages in
// Debian's headless Chromium. It reports the service's CPU and memory, the latency from a CarStatus
// being sent (its timestamp) to the frame of a browser that drew the car's new position (p50/p99
// over every car of every frame of every page), and then the frames per second one page keeps
// while redrawing 10,000 cars continuously. Figures are reported, not asserted. A table on stdout
// and JSON in bench/results/.
//
//   npm run bench -w liveops-web        (the servers of `make up`: Redis, Kafka)
//   BENCH_CARS=10000 BENCH_RATE=10000 BENCH_SECONDS=60 BENCH_WARMUP=10 BENCH_BROWSERS=20 BENCH_FPS_SECONDS=10
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKafka, createLogger, ensureTopics } from '@greenlane/common';
import { testServers, uniqueName } from '@greenlane/common/testing';
import { freePort, spawnProgram, waitReady } from '@greenlane/common/testing-programs';
import { launchChromium, startService } from '../dist/test/helpers.js';

const root = new URL('../..', import.meta.url).pathname;
const env = process.env;
const cars = Number(env.BENCH_CARS ?? 10_000);
const rate = Number(env.BENCH_RATE ?? cars);
const seconds = Number(env.BENCH_SECONDS ?? 60);
const warmup = Number(env.BENCH_WARMUP ?? 10);
const browsers = Number(env.BENCH_BROWSERS ?? 20);
/** simulator: CarStatus through a private ingestion (the figure); topic: events straight onto the topic (the map's own path). */
const source = env.BENCH_SOURCE ?? 'simulator';
const fpsSeconds = Number(env.BENCH_FPS_SECONDS ?? 10);
const token = 'liveops-web-bench-token';
const operatorToken = 'liveops-web-bench-operator';
const topic = uniqueName('liveops-web-bench');
const CLK_TCK = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A compiled program as a child process; its output goes to .cache/logs when it exits. */
function startProgram(name, file, extraEnv, args = []) {
  mkdirSync(join(root, '.cache', 'logs'), { recursive: true });
  const program = spawnProgram(file, { LOG_LEVEL: 'warn', ...extraEnv }, args);
  program.proc.on('exit', () => writeFileSync(join(root, '.cache', 'logs', `bench-liveops-web-${name}.log`), program.output()));
  return program;
}

function pidOf(name) {
  try {
    return Number(readFileSync(join(root, '.cache', 'run', `${name}.pid`), 'utf8'));
  } catch {
    return undefined;
  }
}

function statOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { comm, ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK };
}

/** Chromium's processes: every descendant of this process whose name says so. */
function chromiumPids() {
  const parent = new Map();
  const comm = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = statOf(Number(name));
      parent.set(Number(name), s.ppid);
      comm.set(Number(name), s.comm);
    } catch {}
  }
  const mine = (pid) => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && hops < 20; p = parent.get(p), hops++) if (p === process.pid) return true;
    return false;
  };
  return [...comm].filter(([pid, c]) => /chrom/i.test(c) && mine(pid)).map(([pid]) => pid);
}

/** CPU seconds (user + system) and resident MB of processes (summed), from /proc. */
function procSample(pids) {
  let cpu = 0;
  let rss = 0;
  let seen = 0;
  for (const pid of [pids].flat()) {
    try {
      cpu += statOf(pid).cpu;
      rss += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      seen += 1;
    } catch {}
  }
  return seen === 0 ? undefined : { at: Date.now(), cpu, rssMb: rss };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'liveops-web-bench', log: createLogger('bench', { LOG_LEVEL: 'silent' }), quiet: true });
await ensureTopics(kafka, [{ topic, numPartitions: 6 }]);
const [grpcPort, opsPort, webPort] = await Promise.all([freePort(), freePort(), freePort()]);
const common = { KAFKA_BROKERS: testServers.kafkaBrokers.join(','), FLEET_EVENTS_TOPIC: topic };
const programs = [];
const ingestion = source === 'topic' ? undefined : startProgram('ingestion', 'ingestion/dist/src/main.js', {
  ...common,
  INGESTION_ADDR: `127.0.0.1:${grpcPort}`,
  INGESTION_HTTP_ADDR: `127.0.0.1:${opsPort}`,
  REDIS_URL: `${testServers.redisUrl}/14`,
  API_TOKENS: token, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0',
});
if (ingestion) {
  programs.push(ingestion);
  await waitReady(ingestion, 'ingestion', `http://127.0.0.1:${opsPort}/ready`);
}
// Every browser of the bench signs in with the one operator token: no per-token limit.
const web = await startService(webPort, { ...common, LOG_LEVEL: 'warn', REDIS_URL: `${testServers.redisUrl}/14`, OPERATOR_TOKENS: operatorToken, OPERATOR_RATE: '0' });
const base = web.base;

const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
const signIn = await context.newPage();
await signIn.goto(`${base}/?token=${operatorToken}`);
await signIn.close();
const pages = [];
for (let i = 0; i < browsers; i++) {
  const page = await context.newPage();
  await page.goto(`${base}/?probe=1`);
  pages.push(page);
}
await Promise.all(pages.map((p) => p.waitForFunction(() => window.liveops?.stats.connection === 'open', undefined, { timeout: 60_000 })));

// Runs past the measurement; stopped (Ctrl+C, its summary) once the figures are taken.
const simulator = source === 'topic'
  ? startProgram('topic-load', 'liveops-web/bench/topic-load.mjs', {}, [topic, String(cars), String(rate), String(warmup + seconds + 30)])
  : startProgram('simulator', 'simulator/dist/src/main.js', { API_TOKEN: token }, [
      '--mode', 'load', '--target', `127.0.0.1:${grpcPort}`, '--cars', String(cars), '--rate', String(rate),
      '--interval', '1000', '--duration', String(warmup + seconds + 30), '--json', '--seed', '7',
    ]);
programs.push(simulator);
const watched = [
  { name: 'liveops-web', pid: web.child.proc.pid },
  { name: 'ingestion', pid: ingestion?.proc.pid },
  { name: source === 'topic' ? 'topic producer' : 'simulator', pid: simulator.proc.pid },
  { name: 'chromium (all pages)', pid: chromiumPids() },
  { name: 'kafka (shared broker)', pid: pidOf('kafka') },
  { name: 'redis (shared)', pid: pidOf('redis') },
].filter((w) => w.pid);

// Warm-up: the streams open, the first snapshot with every car goes out; its latencies are dropped.
await sleep(warmup * 1000);
await Promise.all(pages.map((p) => p.evaluate(() => window.liveops.takeLatencies().length + window.liveops.takeReceiveLatencies().length)));
const firstSample = new Map(watched.map((w) => [w.name, procSample(w.pid)]));
const peak = new Map(watched.map((w) => [w.name, 0]));
const latencies = [];
const receiveLatencies = [];
const metricsText = async () => (await fetch(`${base}/metrics`)).text();
const metric = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
const m0 = await metricsText();
const started = Date.now();
while (Date.now() - started < seconds * 1000) {
  await sleep(1000);
  for (const w of watched) {
    const s = procSample(w.pid);
    if (s) peak.set(w.name, Math.max(peak.get(w.name), s.rssMb));
  }
  for (const p of pages) {
    const [drawn, received] = await p.evaluate(() => [window.liveops.takeLatencies(), window.liveops.takeReceiveLatencies()]);
    for (const v of drawn) latencies.push(v);
    for (const v of received) receiveLatencies.push(v);
  }
}
const elapsed = (Date.now() - started) / 1000;
const m1 = await metricsText();
const usage = watched.map((w) => {
  const a = firstSample.get(w.name);
  const b = procSample(w.pid);
  return { name: w.name, cpuPct: a && b ? (100 * (b.cpu - a.cpu)) / ((b.at - a.at) / 1000) : NaN, rssMb: b?.rssMb ?? NaN, peakRssMb: peak.get(w.name) };
});
const pageStats = await Promise.all(pages.map((p) => p.evaluate(() => ({ ...window.liveops.stats, cars: window.liveops.carCount }))));
latencies.sort((a, b) => a - b);
receiveLatencies.sort((a, b) => a - b);
const eventsPerSec = (metric(m1, 'liveops_web_events_total\\{outcome="applied"\\}') - metric(m0, 'liveops_web_events_total\\{outcome="applied"\\}')) / elapsed;
const bytesPerSec = (metric(m1, 'liveops_web_ws_bytes_sent_total') - metric(m0, 'liveops_web_ws_bytes_sent_total')) / elapsed;
const skipped = metric(m1, 'liveops_web_skipped_ticks_total') - metric(m0, 'liveops_web_skipped_ticks_total');

// Frames per second of one page redrawing every animation frame with every car.
for (const p of pages.slice(1)) await p.close();
const fpsPage = await context.newPage();
await fpsPage.goto(`${base}/?fps=1`);
await fpsPage.waitForFunction((n) => window.liveops?.carCount >= n, cars * 0.99, { timeout: 60_000 });
await sleep(2000);
const fpsSamples = [];
const drawMs = [];
for (let i = 0; i < fpsSeconds; i++) {
  await sleep(1000);
  const s = await fpsPage.evaluate(() => ({ fps: window.liveops.stats.fps, drawMs: window.liveops.stats.drawMs }));
  fpsSamples.push(s.fps);
  drawMs.push(s.drawMs);
}
const fpsCars = await fpsPage.evaluate(() => window.liveops.carCount);
await fpsPage.screenshot({ path: join(root, '.cache', 'screenshots', 'liveops-web-bench-10000-cars.png') });

if (simulator.proc.exitCode === null) simulator.proc.kill('SIGINT');
const simulatorSummary = await new Promise((resolve) => {
  const done = () => resolve(JSON.parse(simulator.output().trim().split('\n').filter((l) => l.startsWith('{"mode"')).at(-1) ?? '{}'));
  // (the topic producer prints the same fields)
  if (simulator.proc.exitCode !== null) done();
  else simulator.proc.once('exit', done);
});
await browser.close();
await web.stop();
for (const p of programs) {
  if (p.proc.exitCode === null) p.proc.kill('SIGTERM');
  await p.exited;
}
const admin = kafka.admin();
await admin.connect();
await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
await admin.disconnect();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const result = {
  at: new Date().toISOString(),
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  config: { source, cars, rate, seconds, warmup, browsers, tickMs: 250 },
  simulator: { ackedPerSec: simulatorSummary.ackedPerSec, sent: simulatorSummary.sent, acked: simulatorSummary.acked, failed: simulatorSummary.failed, ackLatencyMs: simulatorSummary.latencyMs },
  loadAverageAtEnd: (await import('node:os')).loadavg(),
  service: { eventsPerSec, wsBytesPerSec: bytesPerSec, skippedBrowserTicks: skipped },
  usage,
  latencyMs: { samples: latencies.length, p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) },
  receiveLatencyMs: { samples: receiveLatencies.length, p50: percentile(receiveLatencies, 50), p90: percentile(receiveLatencies, 90), p99: percentile(receiveLatencies, 99), max: receiveLatencies.at(-1) },
  pages: { count: browsers, carsSeenMin: Math.min(...pageStats.map((s) => s.cars)), framesMin: Math.min(...pageStats.map((s) => s.frames)), reconnects: pageStats.reduce((n, s) => n + s.reconnects, 0) },
  fps: { cars: fpsCars, medianFps: median(fpsSamples), samples: fpsSamples, medianDrawMs: median(drawMs) },
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const file = join(root, 'bench', 'results', `liveops-web-${result.at.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');

const f = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '-');
console.log(`live map bench (${source === 'topic' ? 'events straight onto the topic' : 'CarStatus through the ingestion'}): ${cars} cars at ${rate} msgs/s for ${seconds} s (after ${warmup} s warm-up), ${browsers} browsers (headless Chromium pages)`);
console.log(`  ${source === 'topic' ? 'producer sent' : 'simulator acked'} ${f(result.simulator.ackedPerSec)} msgs/s (${result.simulator.failed ?? 0} failed, ack p99 ${f(result.simulator.ackLatencyMs?.p99)} ms); liveops-web applied ${f(eventsPerSec)} events/s, sent ${f(bytesPerSec / 1024)} KiB/s to browsers, ${skipped} browser-ticks skipped`);
console.log(`  latency CarStatus sent -> drawn in a browser frame: p50 ${f(result.latencyMs.p50)} ms, p90 ${f(result.latencyMs.p90)} ms, p99 ${f(result.latencyMs.p99)} ms, max ${f(result.latencyMs.max)} ms (${latencies.length} samples)`);
console.log(`  latency CarStatus sent -> frame received by a browser (before drawing): p50 ${f(result.receiveLatencyMs.p50)} ms, p99 ${f(result.receiveLatencyMs.p99)} ms`);
for (const u of usage) console.log(`  ${u.name.padEnd(22)} CPU ${f(u.cpuPct, 1).padStart(6)} % of a core   RSS ${f(u.rssMb).padStart(5)} MB (peak ${f(u.peakRssMb)})`);
console.log(`  one page redrawing ${fpsCars} cars every frame: ${f(result.fps.medianFps, 1)} frames/s (median of ${fpsSamples.length} s; draw ${f(result.fps.medianDrawMs, 1)} ms a frame)`);
console.log(`  -> ${file}`);
process.exit(0);
