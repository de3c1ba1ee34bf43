#!/usr/bin/env node
/**
 * Bad input at volume, with valid traffic alongside, against a private GreenLane stack:
 * well-formed CarStatus protobuf with wild values and broken raw HTTP/2 gRPC streams to the
 * ingestion, poison straight to the topic for the pricing workers. Then: no process crashed, every
 * rejection is counted (ingestion's /metrics, the dead-letter topic), nothing bad was stored, and
 * the valid traffic lost nothing (the chaos checker). And hostile HTTP to the command API
 * (lib/fuzz-commands.mjs) beside valid commands: every bad request answered with its 4xx and a JSON
 * {error}, counted in command_api_requests_refused_total; the valid commands checked like a fault
 * run's (lib/commands.mjs). And hostile credentials and TLS handshakes (lib/fuzz-auth.mjs) at two
 * ingestions of their own, TLS + JWT and mutual TLS, with valid cars streaming through both: every
 * refusal counted by its reason, nothing of a refused call stored, the valid cars lose nothing.
 *   node chaos/fuzz.mjs [--wild 60000] [--raw 26000] [--poison 20000] [--commands 20000] [--auth 5000] [--auth-flood 2000] [--offset 200] [--keep-infra] [--json]
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { CHAOS_OPERATOR_TOKEN, CHAOS_TOKEN, commandApiUrl, commandsTopic, createServices, infraStop, metric, prepareRun, sleep, stackConfig, urls } from './lib/stack.mjs';
import { countAcked, say, startSimulator, waitDrained } from './lib/run-chaos.mjs';
import { check, readTopic } from './lib/checker.mjs';
import { RAW, frame, poison, rawHeaders, wild } from './lib/fuzz-inputs.mjs';
import { pooled, sendStream, sessionPool } from './lib/fuzz-wire.mjs';
import { checkCommands, longestLifetimeMs, startCommandDriver, waitRelayed } from './lib/commands.mjs';
import { commandApiRefused, fuzzCommandApi } from './lib/fuzz-commands.mjs';
import { checkAuth, formatAuth, fuzzAuth, prepareAuth, startAuthCars, startAuthIngestions } from './lib/fuzz-auth.mjs';

const { Kafka, logLevel } = kafkajs;
/** The private stack's own token (its ingestion accepts nothing else). */
const TOKEN = CHAOS_TOKEN;
const FAILED = 2;

export async function runFuzz(options = {}) {
  const o = {
    wild: 60_000, raw: 26_000, poison: 20_000, commands: 20_000, commandRate: 10,
    auth: 5000, authFlood: 2000, authCarFlood: 1000, authCars: 10,
    perStream: 500, concurrency: 48, cars: 40, intervalMs: 200, warmupSec: 20, tailSec: 10, offset: 200, keepInfra: false, ...options,
  };
  // The command API and its valid commands run when there is something to send to it; the auth phase when it has a volume.
  const commandsOn = o.commands > 0 || o.commandRate > 0;
  const authOn = o.auth > 0 || o.authFlood > 0 || o.authCarFlood > 0;
  const cfg = stackConfig(o.offset);
  const runId = `fuzz-${Date.now()}`;
  const dir = join(cfg.cache, 'runs', runId);
  mkdirSync(dir, { recursive: true });
  const db = runId.replace(/-/g, '_');
  const u = urls(cfg, db);
  say(
    `fuzz ${runId}: ${o.wild} wild CarStatus, ${o.raw} broken raw streams, ${o.poison} poison events, ${o.commands} hostile command API requests, ` +
      `${authOn ? `${o.auth} hostile credentials and handshakes, a ${o.authFlood}-stream flood, a car ${o.authCarFlood} messages at once; ` : ''}` +
      `${o.cars} valid cars alongside${authOn ? ` (and ${2 * o.authCars} over TLS + JWT and mutual TLS)` : ''}; logs ${dir}`,
  );
  await prepareRun(cfg, u, db);

  const dlqTopic = `${runId}-dlq`;
  const services = createServices(cfg, { topic: runId, dlqTopic, groupId: `${runId}-pricing`, dbUrl: u.dbUrl, logDir: dir, ingestions: 1 });
  const ingestionMetrics = `http://127.0.0.1:${cfg.ingestion[0].httpPort}/metrics`;
  const report = { runId, options: o, logs: dir };
  const started = Date.now();
  let pool;
  let driver;
  let auth;
  let authSims = [];
  try {
    // The auth phase's certificates and keys are made while the stack starts.
    const authPrepared = authOn ? prepareAuth({ cfg, dir, topic: runId, runId, cars: o.authCars }) : undefined;
    authPrepared?.catch(() => {});
    await services.grid.start();
    await services.ingestion[0].start();
    for (const s of services.pricing) await s.start();
    if (commandsOn) await services.commandApi.start();
    if (authPrepared) {
      auth = await authPrepared;
      await startAuthIngestions(auth);
    }
    const before = {
      rejected: await metric(ingestionMetrics, 'ingestion_messages_rejected_total'),
      unauthenticated: await metric(ingestionMetrics, 'ingestion_errors_total', 'kind="unauthenticated"'),
    };

    const ackedLog = join(dir, 'acked-1.log');
    const commandLog = join(dir, 'commands-1.log');
    const prefix = `${runId.slice(-6)}A-`;
    const sim = startSimulator({
      name: 'simulator-1',
      target: `127.0.0.1:${cfg.ingestion[0].grpcPort}`,
      cars: o.cars,
      intervalMs: o.intervalMs,
      seed: 7,
      prefix,
      ackedLog,
      commandLog,
      logDir: dir,
    });
    if (auth) authSims = startAuthCars(auth, { intervalMs: o.intervalMs, logDir: dir });
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
    // 4. hostile HTTP to the command API, beside valid commands to the valid cars (the driver)
    const refusedBefore = commandsOn ? await commandApiRefused(cfg) : null;
    const validCars = Array.from({ length: o.cars }, (_, k) => `${prefix}${String(k + 1).padStart(3, '0')}`);
    const acceptedLog = join(dir, 'commands-accepted.log');
    if (commandsOn) driver = startCommandDriver({ apiUrl: commandApiUrl(cfg), token: CHAOS_OPERATOR_TOKEN, cars: validCars, acceptedLog, redisUrl: u.redisUrl, rate: o.commandRate, say });
    const commandJob = commandsOn ? fuzzCommandApi(cfg, { count: o.commands, car: validCars[0], driver }) : Promise.resolve(undefined);
    // 5. hostile credentials and handshakes at the TLS + JWT and mutual-TLS ingestions
    const authJob = auth ? fuzzAuth(auth, { count: o.auth, flood: o.authFlood, carFloodMessages: o.authCarFlood }) : Promise.resolve(undefined);
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
    const [, , , commandFuzz, authTally] = await Promise.all([wildJob, rawJob, poisonJob, commandJob, authJob]);
    let commandsOpen;
    let relayed = true;
    let refusedAfter = null;
    let drove;
    if (driver) {
      await driver.stop();
      commandsOpen = await driver.waitFinal(Date.now() + longestLifetimeMs() + 5_000);
      relayed = await waitRelayed(u.redisUrl, Date.now() + 30_000);
      refusedAfter = await commandApiRefused(cfg);
      drove = driver.summary();
      driver = undefined;
    }
    const fuzzSec = (Date.now() - fuzzStart) / 1000;
    say(`fuzz sent in ${fuzzSec.toFixed(1)} s; valid acks so far ${countAcked([ackedLog])}`);
    pool.close();
    pool = undefined;

    await sleep(o.tailSec * 1000);
    sim.stop();
    for (const s of authSims) s.stop();
    const simulator = await sim.done;
    const authSummaries = await Promise.all(authSims.map((s) => s.done));
    const lag = await waitDrained(u.brokers, runId, `${runId}-pricing`, 180_000);
    const after = {
      rejected: await metric(ingestionMetrics, 'ingestion_messages_rejected_total'),
      unauthenticated: await metric(ingestionMetrics, 'ingestion_errors_total', 'kind="unauthenticated"'),
      deadLetters: (
        await Promise.all(cfg.pricing.map((p) => metric(`http://127.0.0.1:${p.httpPort}/metrics`, 'pricing_dead_letters_total')))
      ).reduce((a, b) => a + b, 0),
    };
    const ready = (url) => fetch(url).then((r) => r.ok, () => false);
    const alive = await Promise.all(
      [`http://127.0.0.1:${cfg.ingestion[0].httpPort}/ready`, ...cfg.pricing.map((p) => `http://127.0.0.1:${p.httpPort}/ready`), ...(commandsOn ? [`${commandApiUrl(cfg)}/ready`] : [])].map(ready),
    );
    const authAlive = auth ? { 'ingestion-tls': await ready(auth.readyUrl.tls), 'ingestion-mtls': await ready(auth.readyUrl.mtls) } : {};
    const authServices = auth ? [auth.services.tls, auth.services.mtls] : [];
    const crashes = services.all().flatMap((s) => s.crashes.map((c) => ({ service: s.name, ...c })));
    const authCrashes = authServices.flatMap((s) => s.crashes.map((c) => ({ service: s.name, ...c })));
    for (const s of [...services.all(), ...authServices]) await s.stop(15_000, true);

    // What reached the topics: no fuzz car (nor any car of a refused credential), one dead letter per poison event.
    let fuzzOnTopic = 0;
    let authFuzzOnTopic = 0;
    await readTopic(u.brokers, runId, (value) => {
      if (value !== null && value.includes('"car_id":"FUZZ')) fuzzOnTopic += 1;
      if (value !== null && auth && value.includes(auth.ctx.fuzzCar)) authFuzzOnTopic += 1;
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
    const valid = await check({ brokers: u.brokers, topic: runId, dbUrl: u.dbUrl, redisUrl: u.redisUrl, ackedLogs: [ackedLog, ...authSims.map((s) => s.ackedLog)], faults: [] });
    const validCommands = drove
      ? await checkCommands({
          brokers: u.brokers,
          redisUrl: u.redisUrl,
          commands: { acceptedLog, commandLogs: [commandLog], topic: commandsTopic(runId), driver: drove },
        })
      : undefined;
    // Every refusal the API made is counted: the hostile requests (all of them, a 2xx for one is
    // already a failure), and whatever the valid traffic was refused (none expected).
    let refusedExpected;
    if (commandFuzz && drove) {
      const driverServerErrors = Object.entries(drove.retryCauses).filter(([k]) => /^5\d\d$/.test(k)).reduce((n, [, v]) => n + v, 0);
      const driverRefused = Object.values(drove.refused).reduce((a, b) => a + b, 0);
      refusedExpected = commandFuzz.sent - commandFuzz.accepted2xx + driverRefused + driverServerErrors + (commandFuzz.validReads.sent - commandFuzz.validReads.ok);
    }
    const authVerdict = authTally
      ? await checkAuth(auth, authTally, {
          redisUrl: u.redisUrl,
          onTopic: authFuzzOnTopic,
          sims: authSims,
          summaries: authSummaries,
          alive: authAlive,
          crashes: authCrashes,
          expectedCars: 2 * o.authCars,
        })
      : null;

    Object.assign(report, {
      sent: { wild: o.wild, raw: o.raw, poison: o.poison, auth: authVerdict?.sent ?? 0, total: o.wild + o.raw + o.poison, seconds: fuzzSec },
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
      commandApi: commandFuzz
        ? {
            ...commandFuzz,
            refusedMetricDelta: refusedAfter === null || refusedBefore === null ? null : refusedAfter - refusedBefore,
            refusedExpected,
            valid: { driver: drove, notFinalAtEnd: commandsOpen, relayed, check: validCommands },
          }
        : null,
      auth: authVerdict,
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
      valid.ok &&
      (!commandsOn ||
        (commandFuzz.sent === o.commands &&
          commandFuzz.answeredAsExpected === commandFuzz.sent &&
          commandFuzz.serverErrors === 0 &&
          commandFuzz.accepted2xx === 0 &&
          commandFuzz.unanswered === 0 &&
          commandFuzz.validReads.ok === commandFuzz.validReads.sent &&
          report.commandApi.refusedMetricDelta === refusedExpected &&
          relayed &&
          validCommands.ok)) &&
      (authVerdict === null || authVerdict.ok);
    report.elapsedSec = Math.round((Date.now() - started) / 1000);
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2));
    return report;
  } finally {
    pool?.close();
    await driver?.stop().catch(() => {});
    for (const s of authSims) s.stop();
    for (const s of [...services.all(), ...(auth ? [auth.services.tls, auth.services.mtls] : [])]) await s.stop(15_000, true).catch(() => {});
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
    ...(r.commandApi ? [formatCommandFuzz(r.commandApi)] : []),
    ...(r.auth ? [formatAuth(r.auth)] : []),
    `processes: crashes ${r.crashes.length === 0 ? 'none' : JSON.stringify(r.crashes)}; ready at end ${JSON.stringify(r.alive)}`,
    `valid traffic: sent ${r.simulator.sent} acked ${r.simulator.acked} rejected ${r.simulator.rejected}; lost ${t.lost}; charging samples ${t.chargingSamples}, rows ${t.rows} (missing ${t.missingRows}, duplicated ${t.duplicatedRows}, unexplained ${t.unexplainedRows}); energy violations ${t.energyViolations}; slot violations ${t.slotViolations}`,
  ].join('\n');
}

export function formatCommandFuzz(c) {
  const v = c.valid.check.totals;
  const wrong = Object.entries(c.byKind)
    .filter(([, k]) => Object.keys(k).length > 1)
    .map(([kind, k]) => `${kind} ${JSON.stringify(Object.fromEntries(Object.entries(k).filter(([key]) => key !== 'sent')))}`);
  return [
    `command API: ${c.sent} hostile requests in ${c.seconds.toFixed(1)} s (${c.perSecond}/s, ${Object.keys(c.byKind).length} kinds): answered as expected ${c.answeredAsExpected}; by status ${JSON.stringify(c.byStatus)}; ` +
      `5xx ${c.serverErrors}, 2xx ${c.accepted2xx}, no answer ${c.unanswered}, wrong status ${c.wrongStatus}, not JSON {error} ${c.notJson}; ` +
      `refused_total +${c.refusedMetricDelta} (expected ${c.refusedExpected}); valid reads ${c.validReads.ok}/${c.validReads.sent} OK`,
    ...(wrong.length > 0 ? [`  wrong answers: ${wrong.join('; ')}`] : []),
    `  valid commands beside: accepted ${v.accepted} ${JSON.stringify(v.acceptedByType ?? {})}, final ${JSON.stringify(v.final)}, not final ${v.notFinal}, carried out ${v.executions}, twice ${v.carriedOutTwice}, wrong car ${v.wrongCar}, ` +
      `SUCCEEDED not carried out ${v.succeededNotCarriedOut}, topic QUEUED/final missing ${v.topicMissingQueued}/${v.topicMissingFinal}: ${c.valid.check.ok ? 'ok' : 'FAIL'}`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      wild: { type: 'string' },
      raw: { type: 'string' },
      poison: { type: 'string' },
      commands: { type: 'string' },
      auth: { type: 'string' },
      'auth-flood': { type: 'string' },
      'auth-car-flood': { type: 'string' },
      'auth-cars': { type: 'string' },
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
  --commands N    hostile HTTP requests to the command API, beside valid commands [20000]
  --auth N        hostile credentials and TLS handshakes at a TLS + JWT and a mutual-TLS ingestion,
                  cycling through the kinds of lib/fuzz-auth.mjs, beside valid cars [5000]
  --auth-flood N  new streams from one address, as fast as they go (past 200 + 20/s: refused) [2000]
  --auth-car-flood N  messages of one car on one stream at once (past 100 + 10/s: "rate limited") [1000]
  --auth-cars N   valid cars through each of the two (JWT per car; certificate per car) [10]
                  (--auth 0 --auth-flood 0 --auth-car-flood 0: no auth phase)
  --offset N      added to every private port [200]
  --keep-infra    leave the private Redis, Kafka and PostgreSQL running
  --results FILE  also write the report JSON there
  --json          print the report as JSON instead of text
`);
    process.exit(0);
  }
  const n = (v) => (v === undefined ? undefined : Number(v));
  const opts = Object.fromEntries(
    Object.entries({
      wild: n(values.wild), raw: n(values.raw), poison: n(values.poison), commands: n(values.commands),
      auth: n(values.auth), authFlood: n(values['auth-flood']), authCarFlood: n(values['auth-car-flood']), authCars: n(values['auth-cars']),
      offset: n(values.offset), keepInfra: values['keep-infra'],
    }).filter(([, v]) => v !== undefined),
  );
  const report = await runFuzz(opts);
  if (values.results) writeFileSync(values.results, JSON.stringify(report, null, 2));
  process.stdout.write(values.json ? JSON.stringify(report) + '\n' : formatFuzz(report) + '\n');
  process.exit(report.ok ? 0 : 1);
}
