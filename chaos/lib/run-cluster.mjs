/**
 * The cluster run of `make chaos` (issue 20; `node chaos/run.mjs --cluster`): the layout of
 * infra/cluster.sh (three Kafka nodes with RF 3 and min ISR 2, Redis with a replica and three
 * Sentinels, HAProxy) as a private stack (lib/cluster.mjs), three ingestions behind the balancer,
 * three pricing workers in one group, the history writer and the grid mock; realistic cars (every
 * acknowledgement logged, so the checker can hold them to it) and load cars, all through the
 * balancer only; the faults of lib/cluster-faults.mjs in turn; then the same checker as every
 * fault run (lib/checker.mjs, lib/history.mjs), the slots checked again after each fault, and per
 * fault the acknowledgement stall of the fleet and of its worst car.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHAOS_TOKEN, ROOT, metric, sleep } from './stack.mjs';
import { check } from './checker.mjs';
import { formatHistory, historyGroup } from './history.mjs';
import { countAcked, firstAck, runSimulator, sampleRows, say, sleepWatching, startSimulator, waitDrained } from './run-chaos.mjs';
import { CLUSTER_OFFSET, clusterConfig, clusterDown, clusterUrls, createClusterServices, createTopics, haproxyServers, prepareClusterRun, primaryUrl, slotsSnapshot, timeUntil } from './cluster.mjs';
import { ALL_CLUSTER_FAULTS, CLUSTER_DEFAULTS, CLUSTER_FAULTS, plannedSec } from './cluster-faults.mjs';

export const CLUSTER_RUN_DEFAULTS = {
  /** Acknowledged CarStatus of the realistic cars (each one checked); the load cars come on top. */
  messages: 100_000,
  faults: ALL_CLUSTER_FAULTS,
  phaseSec: 15,
  warmupSec: 20,
  tailSec: 10,
  intervalMs: 200,
  /** Load cars (simulator --mode load) beside the realistic fleet, paced at loadRate msgs/s in all. */
  loadCars: 100,
  loadRate: 200,
  offset: CLUSTER_OFFSET,
  keepInfra: false,
  seed: 42,
  /** The target of issue 20: no single broker or Redis failure stalls acknowledgements longer. */
  stallTargetMs: 5000,
  ...CLUSTER_DEFAULTS,
};

/** The faults the 5 s target applies to (a single broker, a single Redis node). */
export const TARGETED = new Set(['kafka-leader-kill', 'redis-primary-kill']);

/** The simulator in load mode until stopped (SIGTERM: it drains, then prints its JSON summary). */
function startLoad({ name, target, cars, rate, seed, prefix, logDir }) {
  const simArgs = ['--mode', 'load', '--target', target, '--token', CHAOS_TOKEN, '--cars', String(cars), '--rate', String(rate),
    '--duration', '0', '--threads', '1', '--channels', '2', '--seed', String(seed), '--car-prefix', prefix, '--json'];
  return runSimulator({ name, simArgs, logDir });
}

/** Per car, its ack instants in order (from the acked logs `car_id timestamp acked_at_ms`). */
function ackTimesByCar(paths) {
  const byCar = new Map();
  for (const path of paths) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      const [car, , at] = line.split(' ');
      let list = byCar.get(car);
      if (!list) byCar.set(car, (list = []));
      list.push(Number(at));
    }
  }
  for (const list of byCar.values()) list.sort((a, b) => a - b);
  return byCar;
}

/**
 * The worst single car around a fault: per car, the longest gap between two of its acks that
 * begins from 1 s before the fault until 30 s after it was undone (at the latest 1 s before the
 * next fault), as checker.recovery() bounds the fleet's; the largest over the cars, and how many
 * cars had a gap over 2 s (each car sends every interval, so a gap that long is an interruption).
 */
export function carStalls(byCar, fault, nextFaultAt = Infinity) {
  const from = fault.at - 1000;
  const until = Math.min((fault.restoredAt ?? fault.at) + 30_000, nextFaultAt - 1000);
  let maxMs = 0;
  let car;
  let over2s = 0;
  for (const [id, times] of byCar) {
    let worst = 0;
    for (let i = 1; i < times.length; i++) {
      if (times[i - 1] < from) continue;
      if (times[i - 1] >= until) break;
      worst = Math.max(worst, times[i] - times[i - 1]);
    }
    if (worst > 2000) over2s += 1;
    if (worst > maxMs) [maxMs, car] = [worst, id];
  }
  return { carStallMaxMs: maxMs, carStallCar: car, carsOver2s: over2s, cars: byCar.size };
}

export async function runCluster(options) {
  const o = { ...CLUSTER_RUN_DEFAULTS, ...options };
  for (const f of o.faults) if (!CLUSTER_FAULTS[f]) throw new Error(`unknown cluster fault ${f}; known: ${ALL_CLUSTER_FAULTS.join(', ')}`);
  const cfg = clusterConfig(o.offset);
  const runId = `chaos-cluster-${Date.now()}`;
  const dir = join(cfg.cache, 'runs', runId);
  mkdirSync(dir, { recursive: true });
  const db = runId.replace(/-/g, '_');
  const u = clusterUrls(cfg, db);

  const durationSec = o.warmupSec + o.faults.reduce((s, f) => s + plannedSec(f, o) + o.phaseSec, 0) + o.tailSec;
  const cars = Math.max(4, Math.ceil((o.messages * 1.1) / (durationSec * (1000 / o.intervalMs))));
  const prefix = runId.slice(-6);
  say(`cluster run ${runId}: ${cars} realistic cars every ${o.intervalMs} ms and ${o.loadCars} load cars at ${o.loadRate} msgs/s, all through HAProxy ${u.target}, for about ${durationSec} s; faults: ${o.faults.join(', ')}`);
  say(`private cluster: kafka ${u.brokers.join(',')}, redis ${cfg.cluster.redisPorts.join('/')} with Sentinels ${cfg.cluster.sentinelPorts.join(',')}, postgres :${cfg.postgresPort}; logs ${dir}`);

  const started = Date.now();
  await prepareClusterRun(cfg, u, db);
  await createTopics(u.brokers, [runId, `${runId}-dlq`]);
  say(`cluster and PostgreSQL up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const services = createClusterServices(cfg, u, { topic: runId, dlqTopic: `${runId}-dlq`, groupId: `${runId}-pricing`, logDir: dir });
  const report = { runId, mode: 'cluster', options: o, cars, durationSec, cluster: cfg.cluster, postgresPort: cfg.postgresPort, topic: runId, database: db, logs: dir, target: u.target };
  let rows;
  let realistic;
  let load;
  try {
    await services.grid.start();
    // One after the other: three at once on two busy cores would each take longer than the three.
    for (const s of services.ingestion) await s.start();
    for (const s of services.pricing) await s.start();
    await services.history.start();
    // The cars only once HAProxy sends streams to all three (leastconn would put them all on the first).
    const upMs = await timeUntil(async () => (await haproxyServers(u)).filter((s) => s.status === 'UP').length === services.ingestion.length, 60_000, 200);
    if (upMs === null) throw new Error(`HAProxy did not see the three ingestions UP within 60 s: ${JSON.stringify(await haproxyServers(u).catch((e) => e.message))}`);
    say(`services up in ${((Date.now() - started) / 1000).toFixed(1)} s; HAProxy sees ${services.ingestion.length} ingestions UP`);

    rows = sampleRows(u.dbUrl);
    const ackedLog = join(dir, 'acked-1.log');
    realistic = { ackedLog, ...startSimulator({ name: 'simulator-realistic', target: u.target, cars, intervalMs: o.intervalMs, seed: o.seed, prefix: `${prefix}R-`, ackedLog, logDir: dir }) };
    load = startLoad({ name: 'simulator-load', target: u.target, cars: o.loadCars, rate: o.loadRate, seed: o.seed + 1, prefix: `${prefix}L-`, logDir: dir });
    const sims = [realistic, { exitedEarly: load.exitedEarly }];
    await firstAck([realistic], 30_000, dir);
    say(`first CarStatus acknowledged ${((Date.now() - started) / 1000).toFixed(1)} s after the start`);

    const faults = [];
    let next = Date.now() + o.warmupSec * 1000;
    for (const [i, name] of o.faults.entries()) {
      await sleepWatching(Math.max(0, next - Date.now()), sims);
      const fault = { name, at: Date.now() };
      say(`fault ${i + 1}/${o.faults.length}: ${name} (${countAcked([ackedLog])} acknowledged so far)`);
      fault.details = await CLUSTER_FAULTS[name]({ cfg, u, services, topic: runId, o, say });
      fault.restoredAt = Date.now();
      say(`  ${name}: undone after ${((fault.restoredAt - fault.at) / 1000).toFixed(1)} s: ${JSON.stringify(fault.details)}`);
      faults.push(fault);
      next = fault.restoredAt + o.phaseSec * 1000;
      // The slots add up at the end of the fault's window, while the cars go on booking.
      await sleepWatching(Math.max(0, next - 2000 - Date.now()), sims);
      fault.slots = await slotsSnapshot(cfg).catch((error) => ({ error: error.message }));
      if (fault.slots.wrong?.length) say(`  slots NOT adding up after ${name}: ${JSON.stringify(fault.slots.wrong.slice(0, 3))}`);
    }
    await sleepWatching(Math.max(0, next - Date.now() - o.phaseSec * 1000 + o.tailSec * 1000), sims);
    while (countAcked([ackedLog]) < o.messages) await sleepWatching(1000, sims);
    realistic.stop();
    load.stop();
    const simulators = [await realistic.done];
    const loadSummary = await load.done;
    say(`simulators done: realistic sent ${simulators[0].sent} acked ${simulators[0].acked} rejected ${simulators[0].rejected} failed ${simulators[0].failed} reconnects ${simulators[0].reconnects} | load sent ${loadSummary.sent} acked ${loadSummary.acked} rejected ${loadSummary.rejected} failed ${loadSummary.failed} reconnects ${loadSummary.reconnects}`);
    const lag = await waitDrained(u.brokers, runId, `${runId}-pricing`, 180_000);
    say(lag === 0 ? 'pricing workers drained the topic' : `pricing workers still ${lag} behind after 180 s`);
    const historyLag = await waitDrained(u.brokers, runId, historyGroup(runId), 180_000);
    say(historyLag === 0 ? 'history writer drained the topic' : `history writer still ${historyLag} behind after 180 s`);
    await sleep(1500);
    await rows.stop();

    report.work = {
      ingestionAccepted: await Promise.all(cfg.cluster.ingestion.map((p) => metric(`http://127.0.0.1:${p.httpPort}/metrics`, 'ingestion_messages_accepted_total'))),
      pricingEventsConsumed: await Promise.all(cfg.pricing.map((p) => metric(`http://127.0.0.1:${p.httpPort}/metrics`, 'pricing_events_consumed_total'))),
      pricingRowsInserted: await Promise.all(cfg.pricing.map((p) => metric(`http://127.0.0.1:${p.httpPort}/metrics`, 'pricing_rows_inserted_total'))),
    };
    const crashes = services.all().flatMap((s) => s.crashes.map((c) => ({ service: s.name, ...c })));
    for (const s of services.all()) await s.stop(15_000, true);
    Object.assign(report, { simulators, load: loadSummary, faults, pricingLagAtEnd: lag, historyLagAtEnd: historyLag, crashes, rowSamples: rows.samples.length });
    report.restarts = Object.fromEntries(services.all().map((s) => [s.name, s.starts - 1]));

    const run = { brokers: u.brokers, topic: runId, dbUrl: u.dbUrl, redisUrl: await primaryUrl(cfg), ackedLogs: [ackedLog], faults, rowSamples: rows.samples, history: true, telemetryPrefixes: [`${prefix}L-`] };
    writeFileSync(join(dir, 'run.json'), JSON.stringify(run));
    say('checking');
    report.check = await check(run);
    const byCar = ackTimesByCar([ackedLog]);
    for (const [i, f] of report.check.faults.entries()) {
      const fault = faults[i];
      Object.assign(f, carStalls(byCar, fault, faults[i + 1]?.at), { details: fault.details, slotsOk: fault.slots?.wrong?.length === 0, slotViolations: fault.slots?.wrong?.length ?? null });
      f.targetMs = TARGETED.has(f.fault) ? o.stallTargetMs : null;
      f.meetsTarget = f.targetMs === null ? null : f.ackStallMs <= f.targetMs;
    }
    // Load cars have no acked log: what they were acknowledged (their own count) must be on the topic (distinct CarStatus).
    const loadOnTopic = report.check.totals.telemetryByPrefix[`${prefix}L-`];
    report.loadCheck = { acknowledged: loadSummary.acked + (loadSummary.warmupAcked ?? 0), onTopic: loadOnTopic, ok: loadOnTopic >= loadSummary.acked + (loadSummary.warmupAcked ?? 0) };
    report.stallTargetMet = report.check.faults.every((f) => f.meetsTarget !== false);
    report.ok =
      report.check.ok &&
      report.loadCheck.ok &&
      crashes.length === 0 &&
      lag === 0 &&
      historyLag === 0 &&
      report.check.faults.every((f) => f.slotsOk) &&
      simulators.every((s) => s.rejected === 0 && s.acked > 0) &&
      loadSummary.rejected === 0 &&
      loadSummary.acked > 0;
    report.elapsedSec = Math.round((Date.now() - started) / 1000);
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2));
    return report;
  } finally {
    realistic?.stop();
    load?.stop();
    await Promise.all([realistic?.done, load?.done]);
    await rows?.stop().catch(() => {});
    for (const s of services.all()) await s.stop(15_000, true).catch(() => {});
    if (!o.keepInfra) await clusterDown(cfg).catch((e) => say(`could not stop the private cluster: ${e.message}`));
  }
}

const sec = (ms) => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(1));

/** What a fault measured of the component's failover, in a few words. */
function failoverLine(f) {
  const d = f.details ?? {};
  switch (f.fault) {
    case 'kafka-leader-kill':
      return `${d.node} (led ${d.partitionsLed}/${d.partitions}${d.wasController ? ', the active controller' : d.wasController === false ? ', not the controller' : ''}): leaders elsewhere ${sec(d.leadersMovedMs)} s, out of every ISR ${sec(d.isrShrunkMs)} s; down ${sec(d.downMs)} s; started in ${sec(d.startedMs)} s, back in every ISR ${sec(d.isrRejoinMs)} s after; preferred leaders re-elected in ${sec(d.rebalanceMs)} s (leads ${d.leadsAfterRebalance} again)`;
    case 'redis-primary-kill':
      return `${d.node} killed: Sentinel named ${d.newPrimary} after ${sec(d.promotedMs)} s; down ${sec(d.downMs)} s; started in ${sec(d.startedMs)} s, a replica with its link up ${sec(d.rejoinedAsReplicaMs)} s after`;
    case 'ingestion-kill':
      return `${d.instance} (streams ${JSON.stringify(d.streamsBefore)}): HAProxy marked it DOWN after ${sec(d.markedDownMs)} s; restarted after ${sec(d.downMs)} s, ready in ${sec(d.readyMs)} s, UP in HAProxy ${sec(d.upAgainInHaproxyMs)} s after the restart began; streams after ${JSON.stringify(d.streamsAfter)}`;
    case 'pricing-kill':
      return `${d.worker} down ${sec(d.downMs)} s, restarted in ${sec(d.startedMs)} s`;
    case 'haproxy-restart':
      return `restarted in ${sec(d.restartedMs)} s, every ingestion UP again ${sec(d.allBackendsUpMs)} s after the restart began`;
    default:
      return JSON.stringify(d);
  }
}

export function formatClusterReport(report) {
  const c = report.check;
  const lines = [];
  const pad = (s, n) => String(s).padEnd(n);
  const num = (s, n) => String(s).padStart(n);
  lines.push(`chaos cluster run ${report.runId}: ${report.ok ? 'PASS' : 'FAIL'} (${report.elapsedSec} s); cars through HAProxy ${report.target} only`);
  lines.push(`${pad('fault', 20)}${num('acked', 8)}${num('lost', 6)}${num('dup rows', 10)}${num('slots', 7)}${num('ack stall s', 13)}${num('target', 8)}${num('worst car s', 13)}${num('cars >2s', 10)}${num('row stall s', 13)}`);
  for (const f of c.faults) {
    const target = f.targetMs === null ? '-' : `${f.meetsTarget ? '≤' : '>'}${f.targetMs / 1000}`;
    lines.push(
      `${pad(f.fault, 20)}${num(f.acknowledged, 8)}${num(f.lost, 6)}${num(f.duplicatedRows, 10)}${num(f.slotsOk ? 'ok' : `${f.slotViolations ?? '?'} bad`, 7)}${num(sec(f.ackStallMs), 13)}${num(target, 8)}${num(sec(f.carStallMaxMs), 13)}${num(`${f.carsOver2s}/${f.cars}`, 10)}${num(sec(f.rowStallMs), 13)}`,
    );
  }
  lines.push('failover, per fault (from the fault):');
  for (const f of c.faults) lines.push(`  ${pad(f.fault, 20)}${failoverLine(f)}`);
  const t = c.totals;
  lines.push(
    `total: acknowledged ${t.acknowledged} (realistic cars, each checked), lost ${t.lost}; topic ${t.topicEvents} events (${t.redeliveredOnTopic} redelivered telemetry); ` +
      `charging samples ${t.chargingSamples} in ${t.stays} stays; rows ${t.rows}: missing ${t.missingRows}, duplicated ${t.duplicatedRows}, unexplained ${t.unexplainedRows}, NaN ${t.nanRows}; ` +
      `energy violations ${t.energyViolations}; stations ${t.stations} (${t.slots} slots), slot violations ${t.slotViolations}`,
  );
  const s = report.simulators[0];
  const l = report.load;
  lines.push(`realistic cars: sent ${s.sent} acked ${s.acked} rejected ${s.rejected} unacked-at-end ${s.failed} reconnects ${s.reconnects}; bookings ${JSON.stringify(s.bookings ?? {})}; ack p99 ${s.latencyMs?.p99} ms, max ${s.latencyMs?.max} ms`);
  lines.push(
    `load cars: sent ${l.sent} acked ${report.loadCheck.acknowledged} rejected ${l.rejected} unacked-at-end ${l.failed} reconnects ${l.reconnects}, ack p99 ${l.latencyMs?.p99} ms max ${l.latencyMs?.max} ms; ` +
      `their distinct CarStatus on the topic ${report.loadCheck.onTopic} (≥ acknowledged: ${report.loadCheck.ok ? 'yes' : 'NO'})`,
  );
  lines.push(`messages acknowledged in all: ${t.acknowledged + report.loadCheck.acknowledged}`);
  if (c.history) lines.push(formatHistory(c.history));
  lines.push(`crashes: ${report.crashes.length === 0 ? 'none' : JSON.stringify(report.crashes)}; restarts: ${JSON.stringify(report.restarts)}; pricing lag at end ${report.pricingLagAtEnd}, history lag ${report.historyLagAtEnd}`);
  lines.push(`since each process's last start: ingestion accepted ${JSON.stringify(report.work.ingestionAccepted)}, pricing consumed ${JSON.stringify(report.work.pricingEventsConsumed)}, rows inserted ${JSON.stringify(report.work.pricingRowsInserted)}`);
  lines.push(`stall target (≤ ${report.options.stallTargetMs / 1000} s for ${[...TARGETED].join(', ')}): ${report.stallTargetMet ? 'met' : 'NOT met'}`);
  return lines.join('\n');
}
