/**
 * One chaos run: private stack up, services started, the simulator (one, or one per ingestion in
 * scale-out mode) in realistic mode logging every ack, faults injected in turn, the pricing
 * worker drained, services stopped, then the checker. Returns the report.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { CHAOS_OPERATOR_TOKEN, CHAOS_TOKEN, ROOT, commandApiUrl, commandsTopic, createServices, infraStop, metric, prepareRun, sleep, stackConfig, urls } from './stack.mjs';
import { FAULTS } from './faults.mjs';
import { check } from './checker.mjs';
import { formatCommands, longestLifetimeMs, startCommandDriver, waitCarsKnown, waitRelayed } from './commands.mjs';
import { formatHistory, historyGroup, historyService } from './history.mjs';
import { ALERT_RULES, BOOKING_TTL_SECONDS, SERVICE_AREA, alertGroup, alertService, alertsTopic, checkAlerts, formatAlerts, settleAlerts, startIncidentFleet } from './alerts-check.mjs';
import { PRESENCE, checkPresence, formatPresence, presenceEnv, settlePresence, startPresenceFleet } from './presence-check.mjs';

const { Kafka, logLevel } = kafkajs;

export const DEFAULTS = {
  messages: 100_000,
  faults: Object.keys(FAULTS),
  /** Seconds between one fault being undone and the next one. */
  phaseSec: 15,
  warmupSec: 20,
  /** Seconds of clean running after the last fault. */
  tailSec: 10,
  outageSec: 10,
  intervalMs: 200,
  scale: false,
  offset: 0,
  keepInfra: false,
  seed: 42,
  /** Operators' commands a second through the command API, all through the faults (lib/commands.mjs); 0 = none. */
  commandRate: 3,
};

export function say(line) {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Samples the row count every 500 ms (null while the database is away). */
export function sampleRows(dbUrl) {
  const samples = [];
  let client;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t = Date.now();
      try {
        if (!client) {
          client = new pg.Client({ connectionString: dbUrl, connectionTimeoutMillis: 1000 });
          client.on('error', () => {});
          await client.connect();
        }
        const { rows } = await client.query('SELECT count(*)::int AS n FROM charging_sessions');
        samples.push({ t, rows: rows[0].n });
      } catch {
        samples.push({ t, rows: null });
        await client?.end().catch(() => {});
        client = undefined;
      }
      await sleep(Math.max(0, 500 - (Date.now() - t)));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
      await client?.end().catch(() => {});
    },
  };
}

/**
 * The simulator as a child process until stopped (SIGTERM: it drains, then prints its JSON summary),
 * with `simArgs` after `main.js`. `done` resolves with the summary; `exitedEarly` rejects when it
 * exits before `stop()`. The shell's credentials for the simulator never reach it: only the token given.
 */
export function runSimulator({ name, simArgs, logDir, token = CHAOS_TOKEN }) {
  const logPath = join(logDir, `${name}.log`);
  const log = createWriteStream(logPath);
  const env = { ...process.env, API_TOKEN: token ?? undefined, LOG_LEVEL: 'warn' };
  for (const k of Object.keys(env)) if (/^SIM_(JWT|TLS)/.test(k)) delete env[k];
  const child = spawn(process.execPath, [join(ROOT, 'simulator/dist/src/main.js'), ...simArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  let asked = false;
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (err = (err + chunk).slice(-4000)));
  child.stderr.pipe(log);
  const done = new Promise((resolve) =>
    child.on('exit', (code) => {
      let summary;
      try {
        summary = JSON.parse(out.trim().split('\n').pop());
      } catch {
        summary = { error: `no summary (exit ${code})`, output: out.slice(-500) };
      }
      resolve({ ...summary, exitCode: code });
    }),
  );
  const exitedEarly = done.then((summary) => {
    if (asked) return new Promise(() => {});
    throw new Error(`${name} exited (code ${summary.exitCode}) before the run was over: ${simulatorError(err, summary)}; log ${logPath}`);
  });
  exitedEarly.catch(() => {});
  return {
    done,
    exitedEarly,
    stop: () => {
      asked = true;
      child.kill('SIGTERM');
    },
  };
}

/**
 * Realistic cars (runSimulator) writing their acknowledged CarStatus to `ackedLog`. They send the
 * stack's own token (CHAOS_TOKEN), whatever the shell's API_TOKEN; `token: null` sends none (cars
 * that prove who they are with `args`: --tls-ca, --jwt-key, --cert-dir). `exitedEarly` rejects
 * with the simulator's own words (a refused token stops it at once: exit 3).
 */
export function startSimulator({ name, target, cars, intervalMs, seed, prefix, ackedLog, commandLog, logDir, token = CHAOS_TOKEN, args = [] }) {
  const simArgs = ['--mode', 'realistic', '--target', target, ...(token === null ? [] : ['--token', token]), '--cars', String(cars),
    '--interval', `${intervalMs}ms`, '--duration', '0', '--seed', String(seed), '--car-prefix', prefix, '--channels', '4', '--json', '--acked-log', ackedLog,
    ...(commandLog ? ['--command-log', commandLog] : []), ...args];
  return runSimulator({ name, simArgs, logDir, token });
}

/** The simulator's own account of why it stopped: its last fatal/error line, else its summary's first error. */
function simulatorError(stderr, summary) {
  let message;
  for (const line of stderr.split('\n')) {
    try {
      const j = JSON.parse(line);
      if (j.level >= 50) message = j.msg;
    } catch {
      // not a log line
    }
  }
  return message ?? summary.firstError ?? summary.error ?? 'no error logged';
}

/**
 * Resolves after `ms`, or rejects at once when a simulator exits unasked, so a run whose cars are
 * refused stops with the reason instead of injecting its faults into a fleet of nothing.
 */
export function sleepWatching(ms, sims) {
  return Promise.race([sleep(ms), ...sims.map((s) => s.exitedEarly)]);
}

/** Waits for the first acknowledged CarStatus; rejects, naming the cause, when none comes within `timeoutMs`. */
export async function firstAck(sims, timeoutMs, logDir) {
  const deadline = Date.now() + timeoutMs;
  while (countAcked(sims.map((s) => s.ackedLog)) === 0) {
    if (Date.now() > deadline) throw new Error(`no CarStatus acknowledged within ${timeoutMs / 1000} s of the simulator's start; see the logs in ${logDir}`);
    await sleepWatching(250, sims);
  }
}

/** Lines in the acked logs so far (the simulator flushes them every 200 ms). */
export function countAcked(paths) {
  let n = 0;
  for (const path of paths) {
    let text = '';
    try {
      text = readFileSync(path, 'latin1');
    } catch {
      continue;
    }
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  }
  return n;
}

/** Waits until the pricing group has committed every offset of the topic (it has processed everything). */
export async function waitDrained(brokers, topic, groupId, timeoutMs) {
  const kafka = new Kafka({ brokers, clientId: 'chaos-drain', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const at = new Map(committed.partitions.map((p) => [p.partition, Number(p.offset)]));
      const lag = ends.reduce((n, p) => n + Math.max(0, Number(p.high) - Math.max(0, at.get(p.partition) ?? 0)), 0);
      if (lag === 0) return 0;
      if (Date.now() > deadline) return lag;
      await sleep(1000);
    }
  } finally {
    await admin.disconnect();
  }
}

export async function runChaos(options) {
  const o = { ...DEFAULTS, ...options };
  const cfg = stackConfig(o.offset);
  const runId = `chaos-${o.scale ? 'scale-' : ''}${Date.now()}`;
  const dir = join(cfg.cache, 'runs', runId);
  mkdirSync(dir, { recursive: true });
  const db = runId.replace(/-/g, '_');
  const u = urls(cfg, db);
  const faultNames = o.faults;
  for (const f of faultNames) if (!FAULTS[f]) throw new Error(`unknown fault ${f}; known: ${Object.keys(FAULTS).join(', ')}`);

  // Planned length: the faults take about 10 s each (Kafka and the grid mock stay down 10 s).
  const durationSec = o.warmupSec + faultNames.length * (o.phaseSec + 10) + o.tailSec;
  // Each car sends one CarStatus per interval; 10% more cars than the count needs, for the outages.
  const cars = Math.max(4, Math.ceil((o.messages * 1.1) / (durationSec * (1000 / o.intervalMs))));
  say(`run ${runId}: ${cars} cars every ${o.intervalMs} ms for about ${durationSec} s, until ${o.messages} messages are acknowledged and the faults are done; faults: ${faultNames.join(', ')}${o.scale ? '; scale-out: 2 ingestions' : ''}`);
  say(`private stack: redis :${cfg.redisPort}, kafka :${cfg.kafkaPort}, postgres :${cfg.postgresPort}; logs ${dir}`);

  await prepareRun(cfg, u, db);

  // ingestion-lost (lib/presence-check.mjs) kills a second ingestion: the run starts one for it.
  const lostInstance = faultNames.includes('ingestion-lost');
  const services = createServices(cfg, {
    topic: runId,
    dlqTopic: `${runId}-dlq`,
    groupId: `${runId}-pricing`,
    dbUrl: u.dbUrl,
    logDir: dir,
    ingestions: o.scale || lostInstance ? 2 : 1,
  });
  const mainIngestions = services.ingestion.slice(0, o.scale ? 2 : 1);
  // Presence timeouts of seconds (lib/presence-check.mjs), and the alert engine (issue 16, lib/alerts-check.mjs).
  for (const s of services.ingestion) Object.assign(s.env, presenceEnv(), { BOOKING_TTL_SECONDS: String(BOOKING_TTL_SECONDS) });
  const alertEngine = alertService(cfg, { topic: runId, dbUrl: u.dbUrl, logDir: dir });
  services.alertEngine = alertEngine;
  // The history writer (issue 19, chaos/lib/history.mjs): its own group on the run's topic, into the run's database.
  const history = historyService(cfg, { topic: runId, dbUrl: u.dbUrl, logDir: dir });
  const stackServices = services.all;
  services.all = () => [...stackServices(), history, alertEngine];
  const started = Date.now();
  const report = { runId, options: o, cars, durationSec, stack: cfg, topic: runId, database: db, logs: dir };
  let rows;
  let sims = [];
  let driver;
  let away;
  let presenceFleet;
  try {
    await services.grid.start();
    for (const s of services.ingestion) await s.start();
    for (const s of services.pricing) await s.start();
    await history.start();
    await alertEngine.start();
    if (o.commandRate > 0) await services.commandApi.start();
    say(`services up in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    rows = sampleRows(u.dbUrl);
    sims = mainIngestions.map((ing, i) => {
      const ackedLog = join(dir, `acked-${i + 1}.log`);
      const commandLog = join(dir, `commands-${i + 1}.log`);
      return {
        ackedLog,
        commandLog,
        ...startSimulator({
          name: `simulator-${i + 1}`,
          target: `127.0.0.1:${cfg.ingestion[i].grpcPort}`,
          cars: Math.ceil(cars / mainIngestions.length),
          intervalMs: o.intervalMs,
          seed: o.seed + i,
          prefix: `${runId.slice(-6)}${String.fromCharCode(65 + i)}-`,
          ackedLog,
          commandLog,
          logDir: dir,
        }),
      };
    });
    // The cars' ids, as the simulator names them (prefix + 001, 002, …).
    const perSim = Math.ceil(cars / mainIngestions.length);
    const carIds = sims.flatMap((_, i) => Array.from({ length: perSim }, (_, k) => `${runId.slice(-6)}${String.fromCharCode(65 + i)}-${String(k + 1).padStart(3, '0')}`));
    // And a car that reports, then goes away (its simulator stopped once it has): its commands must expire, never sent.
    const offlineCar = `${runId.slice(-6)}Z-001`;
    if (o.commandRate > 0) {
      away = startSimulator({ name: 'simulator-offline', target: `127.0.0.1:${cfg.ingestion[0].grpcPort}`, cars: 1, intervalMs: o.intervalMs, seed: o.seed + 99,
        prefix: `${runId.slice(-6)}Z-`, ackedLog: join(dir, 'acked-offline.log'), commandLog: join(dir, 'commands-offline.log'), logDir: dir });
    }
    // Cars with the simulator's incidents (stalled chargers, speeding, drops, a vanishing car) for the
    // alert engine, and the presence phase's movers and silenced cars; checked like every other car.
    const incidents = startIncidentFleet({ cfg, tag: runId.slice(-6), dir, intervalMs: o.intervalMs, seed: o.seed, startSimulator });
    sims.push(incidents.sim);
    if (lostInstance) {
      presenceFleet = await startPresenceFleet({ cfg, tag: runId.slice(-6), dir, intervalMs: o.intervalMs, seed: o.seed, startSimulator });
      sims.push(...presenceFleet.sims);
      services.presence = { redisUrl: u.redisUrl, settings: PRESENCE, groups: presenceFleet.groups };
    }

    // A fleet that cannot connect or authenticate stops the run here, with the simulator's words.
    await firstAck(sims, 30_000, dir);
    say(`first CarStatus acknowledged ${((Date.now() - started) / 1000).toFixed(1)} s after the start`);
    if (o.commandRate > 0) {
      // Operators' commands from now to the end, through every fault; the API takes them for cars it has seen.
      const unknown = await waitCarsKnown(u.redisUrl, [...carIds, offlineCar], Date.now() + 60_000);
      away.stop();
      await away.done;
      if (unknown.some((car) => car !== offlineCar)) throw new Error(`${unknown.length} cars never reached Redis (${unknown.slice(0, 3).join(', ')}); see the logs in ${dir}`);
      if (unknown.length > 0) say(`commands: the offline car ${offlineCar} never reported; no commands to an offline car`);
      driver = startCommandDriver({ apiUrl: commandApiUrl(cfg), token: CHAOS_OPERATOR_TOKEN, cars: carIds, offlineCars: unknown.length > 0 ? [] : [offlineCar],
        acceptedLog: join(dir, 'commands-accepted.log'), redisUrl: u.redisUrl, rate: o.commandRate, seed: o.seed, say });
      say(`commands: ${o.commandRate}/s to ${carIds.length} cars through ${commandApiUrl(cfg)}`);
    }
    const faults = [];
    let next = Date.now() + o.warmupSec * 1000;
    for (const [i, name] of faultNames.entries()) {
      await sleepWatching(Math.max(0, next - Date.now()), sims);
      const fault = { name, at: Date.now() };
      say(`fault ${i + 1}/${faultNames.length}: ${name} (${countAcked(sims.map((s) => s.ackedLog))} acknowledged so far)`);
      const detail = await FAULTS[name]({ cfg, services, outageMs: o.outageSec * 1000 });
      fault.restoredAt = Date.now();
      if (detail) fault.detail = detail;
      say(`  ${name}: undone after ${((fault.restoredAt - fault.at) / 1000).toFixed(1)} s`);
      faults.push(fault);
      next = fault.restoredAt + o.phaseSec * 1000;
    }
    // Clean running after the last fault, and on until the run has its count of messages.
    await sleepWatching(Math.max(0, next - Date.now() - o.phaseSec * 1000 + o.tailSec * 1000), sims);
    while (countAcked(sims.map((s) => s.ackedLog)) < o.messages) await sleepWatching(1000, sims);
    if (driver) {
      // Settle: no new command, then every accepted one final (at most its ttl + timeout), cars still driving.
      await driver.stop();
      report.commandsNotFinalAtSettle = await driver.waitFinal(Date.now() + longestLifetimeMs() + 10_000);
      const d = driver.summary();
      say(`commands: ${d.accepted} accepted of ${d.posts} POSTs (${d.retried} retried), ${report.commandsNotFinalAtSettle.open} not final after the settle`);
    }
    const simulatorsStoppedAt = Date.now();
    for (const s of sims) s.stop();
    const simulators = await Promise.all(sims.map((s) => s.done));
    say(`simulator done: ${simulators.map((s) => `sent ${s.sent} acked ${s.acked} rejected ${s.rejected} failed ${s.failed} reconnects ${s.reconnects}`).join(' | ')}`);
    const lag = await waitDrained(u.brokers, runId, `${runId}-pricing`, 180_000);
    say(lag === 0 ? 'pricing workers drained the topic' : `pricing workers still ${lag} behind after 180 s`);
    const historyLag = await waitDrained(u.brokers, runId, historyGroup(runId), 180_000);
    say(historyLag === 0 ? 'history writer drained the topic' : `history writer still ${historyLag} behind after 180 s`);
    report.historyLagAtEnd = historyLag;
    if (driver) {
      report.commandsRelayed = await waitRelayed(u.redisUrl, Date.now() + 60_000);
      say(report.commandsRelayed ? 'command API relayed every status change to the topic' : 'command API still relaying after 60 s');
    }
    // The alert engine: every car offline (streams closed, then the grace), the engine caught up and its outboxes empty.
    report.presenceSettled = await settlePresence(u.redisUrl, PRESENCE.graceMs + PRESENCE.timeoutMs + 15_000);
    const alertLag = await waitDrained(u.brokers, runId, alertGroup(runId), 180_000);
    const alertSettle = { ...(await settleAlerts({ cfg, redisUrl: u.redisUrl, topic: runId })), lag: alertLag, drained: alertLag === 0 };
    say(alertLag === 0 ? `alert engine drained the topic (${alertSettle.api.total ?? '?'} alerts active)` : `alert engine still ${alertLag} behind after 180 s`);
    await sleep(1500);
    await rows.stop();

    Object.assign(report, { simulators, faults, pricingLagAtEnd: lag, rowSamples: rows.samples.length });
    // Who did the work (counters since each process's last start).
    report.work = {
      ingestionAccepted: await Promise.all(cfg.ingestion.slice(0, services.ingestion.length).map((p) => metric(`http://127.0.0.1:${p.httpPort}/metrics`, 'ingestion_messages_accepted_total'))),
      pricingEventsConsumed: await Promise.all(cfg.pricing.map((p) => metric(`http://127.0.0.1:${p.httpPort}/metrics`, 'pricing_events_consumed_total'))),
      pricingRowsInserted: await Promise.all(cfg.pricing.map((p) => metric(`http://127.0.0.1:${p.httpPort}/metrics`, 'pricing_rows_inserted_total'))),
    };
    const crashes = services.all().flatMap((s) => s.crashes.map((c) => ({ service: s.name, ...c })));
    for (const s of services.all()) await s.stop(15_000, true);
    report.crashes = crashes;
    report.restarts = Object.fromEntries(services.all().map((s) => [s.name, s.starts - 1]));

    const run = { brokers: u.brokers, topic: runId, dbUrl: u.dbUrl, redisUrl: u.redisUrl, ackedLogs: sims.map((s) => s.ackedLog), faults, rowSamples: rows.samples, history: true };
    if (driver) {
      run.commands = { acceptedLog: join(dir, 'commands-accepted.log'), commandLogs: [...sims.map((s) => s.commandLog), join(dir, 'commands-offline.log')], topic: commandsTopic(runId), driver: driver.summary() };
    }
    run.alerts = { topic: alertsTopic(runId), rules: ALERT_RULES, area: SERVICE_AREA, settle: alertSettle, engineKills: faults.filter((f) => f.name === 'alert-engine-kill').map((f) => f.detail) };
    const lostAt = faults.findIndex((f) => f.name === 'ingestion-lost');
    if (lostAt !== -1) run.presence = { fault: faults[lostAt].detail, windowEnd: faults[lostAt + 1]?.at ?? simulatorsStoppedAt, exclude: incidents.cars };
    writeFileSync(join(dir, 'run.json'), JSON.stringify(run));
    say('checking');
    report.check = await check(run);
    report.check.alerts = await checkAlerts(run);
    if (run.presence) report.check.presence = await checkPresence(run);
    report.ok =
      report.check.ok &&
      report.check.alerts.ok &&
      (report.check.presence?.ok ?? true) &&
      crashes.length === 0 &&
      lag === 0 &&
      historyLag === 0 &&
      (driver === undefined || report.commandsRelayed === true) &&
      simulators.every((s) => s.rejected === 0 && s.acked > 0);
    report.elapsedSec = Math.round((Date.now() - started) / 1000);
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2));
    return report;
  } finally {
    await driver?.stop().catch(() => {});
    away?.stop();
    await away?.done;
    for (const s of sims) s.stop();
    await Promise.all(sims.map((s) => s.done));
    await rows?.stop().catch(() => {});
    for (const s of services.all()) await s.stop(15_000, true).catch(() => {});
    await presenceFleet?.proxy.close();
    if (!o.keepInfra) await infraStop(cfg, 'redis', 'kafka', 'postgres').catch((e) => say(`could not stop the private servers: ${e.message}`));
  }
}

/** The report as a table for the terminal. */
export function formatReport(report) {
  const c = report.check;
  const lines = [];
  const pad = (s, n) => String(s).padEnd(n);
  const num = (s, n) => String(s).padStart(n);
  lines.push(`chaos run ${report.runId}: ${report.ok ? 'PASS' : 'FAIL'} (${report.elapsedSec} s)`);
  lines.push(`${pad('fault', 18)}${num('acked', 9)}${num('lost', 6)}${num('dup rows', 10)}${num('recovery s', 12)}${num('ack stall s', 13)}${num('row stall s', 13)}`);
  for (const f of c.faults) {
    lines.push(
      `${pad(f.fault, 18)}${num(f.acknowledged, 9)}${num(f.lost, 6)}${num(f.duplicatedRows, 10)}${num((f.recoveryMs / 1000).toFixed(1), 12)}${num((f.ackStallMs / 1000).toFixed(1), 13)}${num((f.rowStallMs / 1000).toFixed(1), 13)}`,
    );
  }
  const t = c.totals;
  lines.push(
    `total: acknowledged ${t.acknowledged}, lost ${t.lost}; topic ${t.topicEvents} events (${t.redeliveredOnTopic} redelivered telemetry); ` +
      `charging samples ${t.chargingSamples} in ${t.stays} stays; rows ${t.rows}: missing ${t.missingRows}, duplicated ${t.duplicatedRows}, unexplained ${t.unexplainedRows}, NaN ${t.nanRows}; ` +
      `energy violations ${t.energyViolations}; stations ${t.stations} (${t.slots} slots), slot violations ${t.slotViolations}`,
  );
  lines.push(`simulators: ${report.simulators.map((s) => `sent ${s.sent} acked ${s.acked} rejected ${s.rejected} unacked-at-end ${s.failed} reconnects ${s.reconnects}`).join(' | ')}`);
  if (c.history) lines.push(formatHistory(c.history));
  if (c.commands) lines.push(formatCommands(c.commands));
  if (c.alerts) lines.push(formatAlerts(c.alerts));
  if (c.presence) lines.push(formatPresence(c.presence));
  lines.push(`crashes: ${report.crashes.length === 0 ? 'none' : JSON.stringify(report.crashes)}; restarts: ${JSON.stringify(report.restarts)}; pricing lag at end ${report.pricingLagAtEnd}`);
  lines.push(`topic partitions ${t.topicPartitions}; since each process's last start: ingestion accepted ${JSON.stringify(report.work.ingestionAccepted)}, pricing consumed ${JSON.stringify(report.work.pricingEventsConsumed)}, rows inserted ${JSON.stringify(report.work.pricingRowsInserted)}`);
  return lines.join('\n');
}
