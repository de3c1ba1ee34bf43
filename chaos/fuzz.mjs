#!/usr/bin/env node
/**
 * Bad input at volume, with valid traffic alongside, against a private GreenLane stack:
 * well-formed CarStatus protobuf with wild values and broken raw HTTP/2 gRPC streams to the
 * ingestion, poison straight to the topic for the pricing workers. Then: no process crashed, every
 * rejection is counted (ingestion's /metrics, the dead-letter topic), nothing bad was stored, and
 * the valid traffic lost nothing (the chaos checker).
 *   node chaos/fuzz.mjs [--wild 60000] [--raw 26000] [--poison 20000] [--offset 200] [--keep-infra] [--json]
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { CHAOS_TOKEN, createServices, infraStop, metric, prepareRun, sleep, stackConfig, urls } from './lib/stack.mjs';
import { countAcked, say, startSimulator, waitDrained } from './lib/run-chaos.mjs';
import { check, readTopic } from './lib/checker.mjs';
import { RAW, frame, poison, rawHeaders, wild } from './lib/fuzz-inputs.mjs';
import { pooled, sendStream, sessionPool } from './lib/fuzz-wire.mjs';

const { Kafka, logLevel } = kafkajs;
/** The private stack's own token (its ingestion accepts nothing else). */
const TOKEN = CHAOS_TOKEN;
const FAILED = 2;

export async function runFuzz(options = {}) {
  const o = { wild: 60_000, raw: 26_000, poison: 20_000, perStream: 500, concurrency: 48, cars: 40, intervalMs: 200, warmupSec: 20, tailSec: 10, offset: 200, keepInfra: false, ...options };
  const cfg = stackConfig(o.offset);
  const runId = `fuzz-${Date.now()}`;
  const dir = join(cfg.cache, 'runs', runId);
  mkdirSync(dir, { recursive: true });
  const db = runId.replace(/-/g, '_');
  const u = urls(cfg, db);
  say(`fuzz ${runId}: ${o.wild} wild CarStatus, ${o.raw} broken raw streams, ${o.poison} poison events; ${o.cars} valid cars alongside; logs ${dir}`);
  await prepareRun(cfg, u, db);

  const dlqTopic = `${runId}-dlq`;
  const services = createServices(cfg, { topic: runId, dlqTopic, groupId: `${runId}-pricing`, dbUrl: u.dbUrl, logDir: dir, ingestions: 1 });
  const ingestionMetrics = `http://127.0.0.1:${cfg.ingestion[0].httpPort}/metrics`;
  const report = { runId, options: o, logs: dir };
  const started = Date.now();
  let pool;
  try {
    await services.grid.start();
    await services.ingestion[0].start();
    for (const s of services.pricing) await s.start();
    const before = {
      rejected: await metric(ingestionMetrics, 'ingestion_messages_rejected_total'),
      unauthenticated: await metric(ingestionMetrics, 'ingestion_errors_total', 'kind="unauthenticated"'),
    };

    const ackedLog = join(dir, 'acked-1.log');
    const sim = startSimulator({
      name: 'simulator-1',
      target: `127.0.0.1:${cfg.ingestion[0].grpcPort}`,
      cars: o.cars,
      intervalMs: o.intervalMs,
      seed: 7,
      prefix: `${runId.slice(-6)}A-`,
      ackedLog,
      logDir: dir,
    });
    // Valid cars first, so some are charging (and being priced) while the bad input arrives.
    await sleep(o.warmupSec * 1000);

    pool = sessionPool(`http://127.0.0.1:${cfg.ingestion[0].grpcPort}`, 8);
    const outcomes = {};
    const count = (kind, outcome) => {
      outcomes[kind] ??= {};
      outcomes[kind][outcome] = (outcomes[kind][outcome] ?? 0) + 1;
    };
    let failedAnswers = 0;
    let acceptedAnswers = 0;
    let wildUnanswered = 0;
    const tally = (responses) => {
      for (const r of responses) {
        if (r.status === FAILED) failedAnswers += 1;
        else acceptedAnswers += 1;
      }
    };

    // 1. wild values in well-formed protobuf, many per stream (each answered BOOKING_FAILED, the stream lives on)
    const wildStreams = Math.ceil(o.wild / o.perStream);
    const wildJob = pooled(wildStreams, 8, async (s) => {
      const n = Math.min(o.perStream, o.wild - s * o.perStream);
      const now = Date.now();
      const chunks = Array.from({ length: n }, (_, k) => frame(wild(s * o.perStream + k, now)));
      const result = await sendStream(pool, rawHeaders({}, TOKEN), chunks, 60_000);
      tally(result.responses);
      wildUnanswered += n - result.responses.length;
      count('wild-values', result.outcome);
    });
    // 2. broken streams, one bad message each
    const rawJob = pooled(o.raw, o.concurrency, async (i) => {
      const kind = RAW[i % RAW.length];
      const result = await sendStream(pool, rawHeaders(kind, TOKEN), [kind.body(i, Date.now())]);
      tally(result.responses);
      count(kind.kind, result.outcome);
    });
    // 3. poison straight to the topic
    const kafka = new Kafka({ brokers: u.brokers, clientId: 'chaos-fuzz', logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    const poisonJob = (async () => {
      await producer.connect();
      for (let i = 0; i < o.poison; i += 1000) {
        const now = Date.now();
        const messages = Array.from({ length: Math.min(1000, o.poison - i) }, (_, k) => poison(i + k, now));
        await producer.send({ topic: runId, messages });
      }
      await producer.disconnect();
    })();
    const fuzzStart = Date.now();
    await Promise.all([wildJob, rawJob, poisonJob]);
    const fuzzSec = (Date.now() - fuzzStart) / 1000;
    say(`fuzz sent in ${fuzzSec.toFixed(1)} s; valid acks so far ${countAcked([ackedLog])}`);
    pool.close();
    pool = undefined;

    await sleep(o.tailSec * 1000);
    sim.stop();
    const simulator = await sim.done;
    const lag = await waitDrained(u.brokers, runId, `${runId}-pricing`, 180_000);
    const after = {
      rejected: await metric(ingestionMetrics, 'ingestion_messages_rejected_total'),
      unauthenticated: await metric(ingestionMetrics, 'ingestion_errors_total', 'kind="unauthenticated"'),
      deadLetters: (
        await Promise.all(cfg.pricing.map((p) => metric(`http://127.0.0.1:${p.httpPort}/metrics`, 'pricing_dead_letters_total')))
      ).reduce((a, b) => a + b, 0),
    };
    const alive = await Promise.all(
      [`http://127.0.0.1:${cfg.ingestion[0].httpPort}/ready`, ...cfg.pricing.map((p) => `http://127.0.0.1:${p.httpPort}/ready`)].map((url) =>
        fetch(url).then((r) => r.ok, () => false),
      ),
    );
    const crashes = services.all().flatMap((s) => s.crashes.map((c) => ({ service: s.name, ...c })));
    for (const s of services.all()) await s.stop(15_000, true);

    // What reached the topics: no fuzz car, one dead letter per poison event.
    let fuzzOnTopic = 0;
    await readTopic(u.brokers, runId, (value) => {
      if (value !== null && value.includes('"car_id":"FUZZ')) fuzzOnTopic += 1;
    });
    const dlqKeys = new Set();
    let dlqMessages = 0;
    await readTopic(u.brokers, dlqTopic, (value, partition) => {
      dlqMessages += 1;
    });
    const kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    const dlqOffsets = await kafkaAdmin.fetchTopicOffsets(dlqTopic);
    await kafkaAdmin.disconnect();

    const unauthenticatedSent = ['no-token', 'wrong-token'].reduce((n, k) => n + Object.values(outcomes[k] ?? {}).reduce((a, b) => a + b, 0), 0);
    const hung = Object.values(outcomes).reduce((n, o2) => n + (o2.hung ?? 0), 0);
    const rawOk = Object.entries(outcomes)
      .filter(([k]) => k !== 'wild-values')
      .reduce((n, [, o2]) => n + (o2['grpc-0'] ?? 0), 0);
    const valid = await check({ brokers: u.brokers, topic: runId, dbUrl: u.dbUrl, redisUrl: u.redisUrl, ackedLogs: [ackedLog], faults: [] });

    Object.assign(report, {
      sent: { wild: o.wild, raw: o.raw, poison: o.poison, total: o.wild + o.raw + o.poison, seconds: fuzzSec },
      outcomes,
      ingestion: {
        failedAnswers,
        acceptedAnswers,
        wildUnanswered,
        rejectedMetricDelta: after.rejected - before.rejected,
        unauthenticatedSent,
        unauthenticatedMetricDelta: after.unauthenticated - before.unauthenticated,
        rawStreamsEndedOk: rawOk,
        hung,
      },
      pricing: { poisonSent: o.poison, dlqMessages, dlqHigh: dlqOffsets.reduce((n, p) => n + Number(p.high), 0), deadLettersMetric: after.deadLetters, lagAtEnd: lag },
      fuzzEventsOnTopic: fuzzOnTopic,
      alive,
      crashes,
      simulator,
      valid: { ok: valid.ok, totals: valid.totals, examples: valid.examples },
    });
    report.ok =
      crashes.length === 0 &&
      alive.every(Boolean) &&
      acceptedAnswers === 0 &&
      wildUnanswered === 0 &&
      hung === 0 &&
      failedAnswers === after.rejected - before.rejected &&
      failedAnswers >= o.wild &&
      unauthenticatedSent === after.unauthenticated - before.unauthenticated &&
      dlqMessages === o.poison &&
      fuzzOnTopic === 0 &&
      lag === 0 &&
      simulator.rejected === 0 &&
      valid.ok;
    report.elapsedSec = Math.round((Date.now() - started) / 1000);
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2));
    return report;
  } finally {
    pool?.close();
    for (const s of services.all()) await s.stop(15_000, true).catch(() => {});
    if (!o.keepInfra) await infraStop(cfg, 'redis', 'kafka', 'postgres').catch(() => {});
  }
}

export function formatFuzz(r) {
  const i = r.ingestion;
  const p = r.pricing;
  const t = r.valid.totals;
  return [
    `fuzz run ${r.runId}: ${r.ok ? 'PASS' : 'FAIL'} (${r.elapsedSec} s)`,
    `sent ${r.sent.total} bad inputs in ${r.sent.seconds.toFixed(1)} s: ${r.sent.wild} wild-value CarStatus, ${r.sent.raw} broken raw HTTP/2 streams, ${r.sent.poison} poison events on the topic`,
    `ingestion: ${i.failedAnswers} answered BOOKING_FAILED = rejected_total +${i.rejectedMetricDelta}; ${i.acceptedAnswers} accepted; ${i.wildUnanswered} unanswered; ` +
      `unauthenticated ${i.unauthenticatedSent} = errors_total{unauthenticated} +${i.unauthenticatedMetricDelta}; broken streams ended OK ${i.rawStreamsEndedOk}; hung ${i.hung}`,
    `outcomes: ${Object.entries(r.outcomes).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join('; ')}`,
    `pricing: poison ${p.poisonSent} → dead-letter topic ${p.dlqMessages} (dead_letters_total ${p.deadLettersMetric}); lag at end ${p.lagAtEnd}; fuzz cars on the topic ${r.fuzzEventsOnTopic}`,
    `processes: crashes ${r.crashes.length === 0 ? 'none' : JSON.stringify(r.crashes)}; ready at end ${JSON.stringify(r.alive)}`,
    `valid traffic: sent ${r.simulator.sent} acked ${r.simulator.acked} rejected ${r.simulator.rejected}; lost ${t.lost}; charging samples ${t.chargingSamples}, rows ${t.rows} (missing ${t.missingRows}, duplicated ${t.duplicatedRows}, unexplained ${t.unexplainedRows}); energy violations ${t.energyViolations}; slot violations ${t.slotViolations}`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      wild: { type: 'string' },
      raw: { type: 'string' },
      poison: { type: 'string' },
      offset: { type: 'string' },
      'keep-infra': { type: 'boolean' },
      json: { type: 'boolean' },
      results: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`node chaos/fuzz.mjs [flags]  (make chaos runs it after the fault run)
  --wild N        well-formed CarStatus with one wild value each [60000]
  --raw N         broken raw HTTP/2 gRPC streams, one bad message each [26000]
  --poison N      poison events written straight to the topic [20000]
  --offset N      added to every private port [200]
  --keep-infra    leave the private Redis, Kafka and PostgreSQL running
  --results FILE  also write the report JSON there
  --json          print the report as JSON instead of text
`);
    process.exit(0);
  }
  const n = (v) => (v === undefined ? undefined : Number(v));
  const opts = Object.fromEntries(
    Object.entries({ wild: n(values.wild), raw: n(values.raw), poison: n(values.poison), offset: n(values.offset), keepInfra: values['keep-infra'] }).filter(([, v]) => v !== undefined),
  );
  const report = await runFuzz(opts);
  if (values.results) writeFileSync(values.results, JSON.stringify(report, null, 2));
  process.stdout.write(values.json ? JSON.stringify(report) + '\n' : formatFuzz(report) + '\n');
  process.exit(report.ok ? 0 : 1);
}
