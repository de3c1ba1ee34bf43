/**
 * The alerts check of a fault run (issue 16): the alert engine runs on the run's stack through
 * every fault (and is itself killed with kill -9 by the `alert-engine-kill` fault); afterwards this
 * computes which alerts must exist and compares them with what the engine produced.
 *
 * The expectation is a pure function (expectCar) written from the engine's README, not from its
 * code: the six rules with the thresholds the run gave the engine (ALERT_RULES, through its
 * variables), one active alert per car and rule, `alert_id` = `{car}.{rule}.{raised_at}`, event ids
 * `{alert_id}:raised`, `:refreshed:{at}`, `:cleared`, refreshes at most once per
 * ALERT_REFRESH_SECONDS of event time and at once on a change of severity, telemetry applied in
 * car-timestamp order (late / not newer: ignored), presence and booking expiries once per event id.
 * It runs over two inputs:
 *
 * 1. **the acknowledged CarStatus** (the simulators' acked logs; each sample's fields from its
 *    telemetry event on the topic, which the main checker proves holds every one of them), sorted
 *    by the car's timestamp: the alerts of the telemetry rules (battery_low, overspeed,
 *    charging_stalled, outside_service_area) that must exist, raised and cleared at those instants;
 * 2. **the engine's input**: fleet-events in partition order up to the offsets the engine stored
 *    as applied (`alerts:offset:{topic}:{partition}` in Redis), every handled event type. This adds
 *    what the acked log cannot hold: the telemetry a killed ingestion stored but never acknowledged
 *    (the car sent it again, or not), `car_online` / `car_offline` (offline rule) and
 *    `booking_expired` (booking_no_show). From it every transition's event id is known exactly.
 *
 * Then, against `<run>-alerts` (fleet-alerts), fleet_alerts and the alert hashes in Redis:
 * - none missing: every expected event id is on the topic and in the table;
 * - none duplicated: no alert_raised for a car and rule while another alert of theirs is active
 *   (two raises without a clear between), no event id twice in the table, repeats of an event id on
 *   the topic (at-least-once after a crash, documented) identical, and counted;
 * - none left active after its condition ended: every expected clear is there, and the alerts
 *   active at the end (Redis, the API) are exactly those whose condition still held at the car's
 *   last applied event;
 * - none unexplained: no event on the topic the expectation does not have.
 * The clear of a condition is due at the first sample (event) where it no longer holds, in event
 * time; the check runs once the engine has applied everything, so no wall-clock delay is allowed
 * for or needed. Tolerances, stated: the service-area distance is computed here with another
 * metric than the engine's (within 1 %), so a sample within ±(1 % of the margin + 1 m) of the margin
 * is ambiguous and that car's outside_service_area events are left out of the exact comparison
 * (counted); nothing else is approximate (the same JSON numbers are compared with the same strict
 * inequalities as documented).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createClient } from 'redis';
import { CHAOS_OPERATOR_TOKEN, Service, metric, sleep } from './stack.mjs';
import { readAckedLogs, readTopicMessages } from './checker.mjs';

const { Kafka, logLevel } = kafkajs;

/**
 * The rules' thresholds of a fault run, chosen so that every rule happens in a few minutes of
 * realistic cars at 200 ms: batteries drain 0.1–0.5 points a sample (documented defaults 20 / 15);
 * city speeds wander 0–60 km/h (over 45 for 2 s happens); the simulator's stalled chargers
 * (incidents) hold the meter 15 s (stall after 6 s); a service area that is only the south of
 * Manhattan (cars drive out of it and back); a no-show clears by itself after a minute; refreshes
 * every 5 s of event time.
 */
export const ALERT_RULES = {
  batteryLowPct: 20,
  batteryCriticalPct: 15,
  batteryHysteresisPct: 1,
  overspeedKmh: 45,
  overspeedSeconds: 2,
  stallMinutes: 0.1,
  areaMarginM: 100,
  noShowClearMinutes: 1,
  refreshSeconds: 5,
  offlineSlackMs: 2000,
};

const RULE_ENV = {
  batteryLowPct: 'ALERT_BATTERY_LOW_PCT',
  batteryCriticalPct: 'ALERT_BATTERY_CRITICAL_PCT',
  batteryHysteresisPct: 'ALERT_BATTERY_HYSTERESIS_PCT',
  overspeedKmh: 'ALERT_OVERSPEED_KMH',
  overspeedSeconds: 'ALERT_OVERSPEED_SECONDS',
  stallMinutes: 'ALERT_STALL_MINUTES',
  areaMarginM: 'ALERT_SERVICE_AREA_MARGIN_M',
  noShowClearMinutes: 'ALERT_NO_SHOW_CLEAR_MINUTES',
  refreshSeconds: 'ALERT_REFRESH_SECONDS',
  offlineSlackMs: 'ALERT_OFFLINE_SLACK_MS',
};

/**
 * The ingestions' BOOKING_TTL_SECONDS in a fault run (default 1200): a car's trip to its station
 * takes a second or two, so only a car held up on the way (an operator's stop or reroute, its
 * ingestion down) lets its booking expire: booking_no_show.
 */
export const BOOKING_TTL_SECONDS = 10;

/** The service area of a fault run: Manhattan south of 40.80° N (a rectangle; lon, lat). */
export const SERVICE_AREA = { south: 40.69, north: 40.8, west: -74.03, east: -73.9 };

export function areaGeoJson(a = SERVICE_AREA) {
  return {
    type: 'Feature',
    properties: { name: 'chaos: Manhattan south of 40.80 N' },
    geometry: { type: 'Polygon', coordinates: [[[a.west, a.south], [a.east, a.south], [a.east, a.north], [a.west, a.north], [a.west, a.south]]] },
  };
}

export const RULE_NAMES = ['battery_low', 'overspeed', 'offline', 'charging_stalled', 'outside_service_area', 'booking_no_show'];
/** The rules that follow from telemetry alone (the acknowledged CarStatus decide them). */
export const TELEMETRY_RULES = ['battery_low', 'overspeed', 'charging_stalled', 'outside_service_area'];

export const alertsTopic = (topic) => `${topic}-alerts`;
export const alertGroup = (topic) => `${topic}-alert-engine`;
export const ALERT_PREFIX = 'alerts:';
export const alertApiPort = (cfg) => 19468 + cfg.offset;

/** The alert engine of a run (API 19468 + offset): its own group from the topic's start, the run's database, the rules above. */
export function alertService(cfg, { topic, dbUrl, logDir, rules = ALERT_RULES }) {
  const areaFile = join(logDir, 'service-area.geojson');
  writeFileSync(areaFile, JSON.stringify(areaGeoJson()));
  const env = {
    KAFKA_BROKERS: `127.0.0.1:${cfg.kafkaPort}`,
    FLEET_EVENTS_TOPIC: topic,
    FLEET_ALERTS_TOPIC: alertsTopic(topic),
    FLEET_ALERTS_PARTITIONS: '6',
    ALERT_GROUP_ID: alertGroup(topic),
    ALERT_FROM_BEGINNING: 'true',
    // The restarted engine waits for the killed member's session to lapse before it gets partitions.
    ALERT_SESSION_TIMEOUT_MS: '10000',
    REDIS_URL: `redis://127.0.0.1:${cfg.redisPort}/${cfg.redisDb ?? 0}`,
    ALERT_REDIS_PREFIX: ALERT_PREFIX,
    DATABASE_URL: dbUrl,
    ALERT_ADDR: `127.0.0.1:${alertApiPort(cfg)}`,
    OPERATOR_TOKENS: CHAOS_OPERATOR_TOKEN,
    OPERATOR_RATE: '0',
    ALERT_SERVICE_AREA_FILE: areaFile,
    LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'info',
  };
  for (const [k, name] of Object.entries(RULE_ENV)) env[name] = String(rules[k]);
  return new Service('alert-engine', 'alert-engine/dist/src/main.js', env, logDir, `http://127.0.0.1:${alertApiPort(cfg)}/ready`);
}

/**
 * The fault: kill -9 the alert engine mid-run and start it again at once, as a supervisor would.
 * It takes its partitions back once the killed member's session lapses (10 s).
 */
export async function alertEngineKill({ services }) {
  const engine = services.alertEngine;
  if (engine === undefined) throw new Error('alert-engine-kill needs the run\'s alert engine');
  const killAt = Date.now();
  await engine.kill9();
  const exitedAt = Date.now();
  await engine.start();
  return { killAt, exitedAt, restoredAt: Date.now() };
}

/**
 * Cars with the simulator's incidents on (`--incidents on`: off by default beside --acked-log),
 * straight at the first ingestion, so the rules that plain cars never meet happen too: stalled
 * chargers (charging_stalled), speeding, a car that drops its stream and comes back (offline
 * stream_closed, then cleared), one that vanishes (offline by timeout, active at the end). Their
 * CarStatus are checked like every other car's.
 */
export function startIncidentFleet({ cfg, tag, dir, intervalMs, seed, startSimulator, cars = 10 }) {
  const ackedLog = join(dir, 'acked-incidents.log');
  const commandLog = join(dir, 'commands-incidents.log');
  const prefix = `${tag}I-`;
  const sim = startSimulator({
    name: 'simulator-incidents', target: `127.0.0.1:${cfg.ingestion[0].grpcPort}`, cars, intervalMs, seed: seed + 70, prefix, ackedLog, commandLog, logDir: dir,
    args: ['--incidents', 'on', '--incident-mix', 'stall=2,speed=2,drop=2,vanish=1', '--stall-duration', '15s', '--incident-every', '60s'],
  });
  return { sim: { ackedLog, commandLog, ...sim }, cars: Array.from({ length: cars }, (_, k) => `${prefix}${String(k + 1).padStart(3, '0')}`) };
}

// ---------------------------------------------------------------------------------------------
// The expectation (pure)
// ---------------------------------------------------------------------------------------------

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const optionalString = (v) => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * A fleet-events value (parsed JSON) → the input a rule looks at, per CONTRACTS.md and the
 * ingestion's additions: telemetry, car_online / car_offline, booking_expired; undefined for
 * every other type; { malformed } for a handled type without what its rule needs.
 */
export function inputOf(e) {
  if (e === null || typeof e !== 'object') return undefined;
  const type = e.event_type;
  if (type !== 'telemetry' && type !== 'car_online' && type !== 'car_offline' && type !== 'booking_expired') return undefined;
  if (typeof e.car_id !== 'string' || typeof e.event_id !== 'string' || !isNum(e.timestamp)) return { malformed: type };
  const base = { carId: e.car_id, eventId: e.event_id, ts: e.timestamp };
  if (type === 'telemetry') {
    if (![e.lat, e.lon, e.battery, e.velocity].every(isNum)) return { malformed: type };
    return {
      kind: 'telemetry', ...base, lat: e.lat, lon: e.lon, battery: e.battery, velocity: e.velocity,
      stationId: optionalString(e.station_id), charging: e.charging === true,
      energyKwh: isNum(e.charge_energy_kwh) ? e.charge_energy_kwh : undefined,
      pluggedInAt: isNum(e.plugged_in_at) ? e.plugged_in_at : undefined,
      late: e.late === true,
    };
  }
  if (type === 'booking_expired') return { kind: 'booking_expired', ...base, stationId: optionalString(e.station_id) ?? '' };
  return { kind: 'presence', ...base, online: type === 'car_online', lastSeen: isNum(e.last_seen) ? e.last_seen : undefined, reason: optionalString(e.reason) };
}

/** Metres outside the rectangle `area` (0 inside), with a mean-radius metric (the engine uses another: see tolerance). */
export function outsideMetres(area, lat, lon) {
  const M_PER_DEG = 111_195;
  const dLat = lat > area.north ? lat - area.north : lat < area.south ? area.south - lat : 0;
  const dLon = lon > area.east ? lon - area.east : lon < area.west ? area.west - lon : 0;
  return Math.hypot(dLat * M_PER_DEG, dLon * M_PER_DEG * Math.cos((lat * Math.PI) / 180));
}

/** Metres either side of the margin where this check and the engine may disagree: 1 % of the margin + 1 m. */
export const areaTolerance = (marginM) => 0.01 * marginM + 1;

export function newCarModel() {
  return { ts: 0, presenceTs: 0, ids: new Set(), plugged: undefined, overspeed: undefined, stall: undefined, offline: undefined, noShow: undefined, active: {}, ambiguousArea: 0, ignoredOffline: [] };
}

function decide(car, carId, rule, verdict, at, refreshMs, out) {
  if (verdict === undefined) return;
  const a = car.active[rule];
  if (verdict.holds) {
    if (a === undefined) {
      const id = `${carId}.${rule}.${at}`;
      car.active[rule] = { id, severity: verdict.severity, raisedAt: at, sentAt: at };
      out.push({ eventId: `${id}:raised`, alertId: id, carId, rule, transition: 'raised', severity: verdict.severity, at });
      return;
    }
    if (a.severity === verdict.severity && at - a.sentAt < refreshMs) return;
    a.severity = verdict.severity;
    a.sentAt = at;
    out.push({ eventId: `${a.id}:refreshed:${at}`, alertId: a.id, carId, rule, transition: 'refreshed', severity: verdict.severity, at });
    return;
  }
  if (a === undefined) return;
  delete car.active[rule];
  out.push({ eventId: `${a.id}:cleared`, alertId: a.id, carId, rule, transition: 'cleared', severity: a.severity, at });
}

const HOLDS = (severity = 'warning') => ({ holds: true, severity });
const ENDS = { holds: false };

function batteryVerdict(b, active, r) {
  if (b < r.batteryCriticalPct) return HOLDS('critical');
  if (active?.severity === 'critical' && b < r.batteryCriticalPct + r.batteryHysteresisPct) return HOLDS('critical');
  if (b < r.batteryLowPct) return HOLDS('warning');
  if (active !== undefined && b < r.batteryLowPct + r.batteryHysteresisPct) return HOLDS('warning');
  return ENDS;
}

/**
 * Applies one input to a car's model (mutated) and appends the alert transitions it causes to
 * `out`. Returns 'applied', or why not: 'late', 'stale', 'duplicate'.
 */
export function applyInput(car, input, rules, area, out) {
  const refreshMs = rules.refreshSeconds * 1000;
  const apply = (rule, verdict) => decide(car, input.carId, rule, verdict, input.ts, refreshMs, out);
  if (input.kind === 'telemetry') {
    if (input.late) return 'late';
    if (input.ts <= car.ts) return input.ts === car.ts ? 'duplicate' : 'stale';
    car.ts = input.ts;
    car.plugged = input.stationId;
    apply('battery_low', batteryVerdict(input.battery, car.active.battery_low, rules));
    // overspeed: a run of samples above the limit, from its first; raised once it lasted the hold.
    if (input.velocity <= rules.overspeedKmh) {
      car.overspeed = undefined;
      apply('overspeed', ENDS);
    } else {
      car.overspeed ??= { since: input.ts };
      apply('overspeed', input.ts - car.overspeed.since >= rules.overspeedSeconds * 1000 ? HOLDS() : undefined);
    }
    // charging_stalled: plugged in, charging, the meter not rising for the stall time, within one stay.
    if (input.stationId === undefined || !input.charging || input.energyKwh === undefined) {
      car.stall = undefined;
      apply('charging_stalled', ENDS);
    } else {
      const stay = `${input.stationId}|${input.pluggedInAt ?? ''}`;
      if (car.stall === undefined || car.stall.stay !== stay) {
        car.stall = { stay, meter: input.energyKwh, since: input.ts };
        apply('charging_stalled', ENDS);
      } else if (input.energyKwh > car.stall.meter) {
        car.stall.meter = input.energyKwh;
        car.stall.since = input.ts;
        apply('charging_stalled', ENDS);
      } else apply('charging_stalled', input.ts - car.stall.since >= rules.stallMinutes * 60_000 ? HOLDS() : undefined);
    }
    const outside = outsideMetres(area, input.lat, input.lon);
    if (Math.abs(outside - rules.areaMarginM) <= areaTolerance(rules.areaMarginM)) car.ambiguousArea += 1;
    apply('outside_service_area', outside > rules.areaMarginM ? HOLDS() : ENDS);
    if (car.offline !== undefined && input.ts > car.offline.lastSeen) {
      car.offline = undefined;
      apply('offline', ENDS);
    }
    if (car.noShow !== undefined && (input.stationId !== undefined || input.ts >= car.noShow.until)) {
      car.noShow = undefined;
      apply('booking_no_show', ENDS);
    }
    return 'applied';
  }
  if (input.kind === 'presence') {
    if (car.ids.has(input.eventId)) return 'duplicate';
    if (input.ts < car.presenceTs) return 'stale';
    car.ids.add(input.eventId);
    car.presenceTs = input.ts;
    if (input.online) {
      car.offline = undefined;
      apply('offline', ENDS);
      return 'applied';
    }
    const lastSeen = input.lastSeen ?? input.ts;
    // Telemetry newer than last_seen by more than the slack: the car is taken to speak through
    // another instance already (within it: what the silenced instance acknowledged after its last report).
    if (car.ts > lastSeen + (rules.offlineSlackMs ?? 0)) {
      car.ignoredOffline.push({ ts: input.ts, reason: input.reason ?? null, lastSeen, newestTelemetry: car.ts });
      apply('offline', ENDS);
      return 'applied';
    }
    car.offline = { lastSeen };
    apply('offline', HOLDS());
    return 'applied';
  }
  if (input.kind === 'booking_expired') {
    if (car.ids.has(input.eventId)) return 'duplicate';
    car.ids.add(input.eventId);
    if (input.stationId !== '' && car.plugged === input.stationId) return 'applied';
    car.noShow = { until: input.ts + rules.noShowClearMinutes * 60_000 };
    apply('booking_no_show', HOLDS());
    return 'applied';
  }
  return 'ignored';
}

/**
 * One car's inputs, in the order the engine takes them → its alert transitions, what was skipped,
 * the timestamps of the telemetry applied, and the alerts still active after the last input.
 */
export function expectCar(carId, inputs, rules = ALERT_RULES, area = SERVICE_AREA) {
  const car = newCarModel();
  const events = [];
  const skipped = { late: 0, stale: 0, duplicate: 0 };
  const appliedTs = [];
  for (const input of inputs) {
    const outcome = applyInput(car, { ...input, carId }, rules, area, events);
    if (outcome === 'applied' && input.kind === 'telemetry') appliedTs.push(input.ts);
    else if (skipped[outcome] !== undefined) skipped[outcome] += 1;
  }
  return { events, skipped, appliedTs, active: Object.fromEntries(Object.entries(car.active).map(([rule, a]) => [rule, a.id])), ambiguousArea: car.ambiguousArea, ignoredOffline: car.ignoredOffline };
}

/**
 * The alert events as found (each event id once, in the order first seen) → per car and rule, the
 * episodes and what is wrong with the sequence on its own: a raise while another alert of the car
 * and rule is active (duplicated), a refresh or clear of an alert that is not the active one
 * (orphan).
 */
export function sequenceFaults(events) {
  const active = new Map(); // "car rule" → alert_id
  const duplicatedRaises = [];
  const orphans = [];
  for (const e of events) {
    if (e.transition === 'acknowledged') continue;
    const key = `${e.carId} ${e.rule}`;
    const current = active.get(key);
    if (e.transition === 'raised') {
      if (current !== undefined) duplicatedRaises.push({ car: e.carId, rule: e.rule, active: current, raised: e.alertId });
      active.set(key, e.alertId);
    } else if (current !== e.alertId) orphans.push({ car: e.carId, rule: e.rule, event: e.eventId, active: current ?? null });
    else if (e.transition === 'cleared') active.delete(key);
  }
  return { duplicatedRaises, orphans, activeAtEnd: new Set(active.values()) };
}

/**
 * Expected transitions vs those found (Maps event id → event), by kind of difference. `skipRules`:
 * "car rule" keys left out (an ambiguous area sample).
 */
export function compareTransitions(expected, found, skipRules = new Set()) {
  const kept = (e) => !skipRules.has(`${e.carId} ${e.rule}`);
  const missing = { raised: [], refreshed: [], cleared: [] };
  const unexplained = { raised: [], refreshed: [], cleared: [], acknowledged: [] };
  const severity = [];
  for (const [id, e] of expected) {
    if (!kept(e)) continue;
    const f = found.get(id);
    if (f === undefined) missing[e.transition].push(e);
    else if (f.severity !== e.severity) severity.push({ event: id, expected: e.severity, found: f.severity });
  }
  for (const [id, f] of found) if (kept(f) && !expected.has(id)) unexplained[f.transition].push(f);
  return { missing, unexplained, severity };
}

/** Per rule: expected raised / refreshed / cleared / active at the end. */
export function countByRule(expectedEvents, activeIds) {
  const by = Object.fromEntries(RULE_NAMES.map((r) => [r, { raised: 0, refreshed: 0, cleared: 0, active: 0 }]));
  for (const e of expectedEvents) by[e.rule][e.transition] += 1;
  for (const id of activeIds) by[ruleOfAlert(id)].active += 1;
  return by;
}

export const ruleOfAlert = (alertId) => RULE_NAMES.find((r) => alertId.includes(`.${r}.`)) ?? 'unknown';

// ---------------------------------------------------------------------------------------------
// Reading the run
// ---------------------------------------------------------------------------------------------

const parse = (value) => {
  try {
    return value === null ? undefined : JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
};

/** Next offset the engine applied per partition (its Redis record; 0 when none). */
async function appliedOffsets(redis, topic, partitions) {
  const out = new Map();
  for (let p = 0; p < partitions; p++) out.set(p, Number((await redis.get(`${ALERT_PREFIX}offset:${topic}:${p}`)) ?? 0));
  return out;
}

/**
 * What the engine has left unsent or unwritten (its outboxes) and its open set, read from Redis.
 */
async function engineLeftovers(redis, topic, partitions) {
  const outboxes = {};
  for (let p = 0; p < partitions; p++) outboxes[p] = await redis.lLen(`${ALERT_PREFIX}outbox:${topic}:${p}`);
  return { outboxes, outboxDb: await redis.lLen(`${ALERT_PREFIX}outbox:db`), outboxApi: await redis.lLen(`${ALERT_PREFIX}outbox:api`) };
}

/**
 * After the simulators stopped and the engine caught up (its group's lag 0: run-chaos waits for
 * it): its outboxes empty, the active alerts as its API lists them, its counters.
 */
export async function settleAlerts({ cfg, redisUrl, topic, timeoutMs = 60_000 }) {
  const redis = createClient({ url: redisUrl });
  redis.on('error', () => {});
  await redis.connect();
  const deadline = Date.now() + timeoutMs;
  let left;
  try {
    for (;;) {
      left = await engineLeftovers(redis, topic, 6);
      if (Object.values(left.outboxes).every((n) => n === 0) && left.outboxDb === 0) break;
      if (Date.now() > deadline) break;
      await sleep(500);
    }
  } finally {
    await redis.quit().catch(() => {});
  }
  const base = `http://127.0.0.1:${alertApiPort(cfg)}`;
  let api;
  try {
    const response = await fetch(`${base}/v1/alerts?status=active&limit=1000`, { headers: { authorization: `Bearer ${CHAOS_OPERATOR_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
    const body = await response.json();
    api = { status: response.status, total: body.total, ids: (body.alerts ?? []).map((a) => a.alert_id) };
  } catch (error) {
    api = { error: error.message };
  }
  const m = `${base}/metrics`;
  const metrics = {
    outboxResent: await metric(m, 'alert_outbox_resent_total'),
    replayedSkipped: await metric(m, 'alert_events_skipped_total', 'reason="replayed"'),
    staleBatches: await metric(m, 'alert_stale_batches_total'),
    malformedSkipped: await metric(m, 'alert_events_skipped_total', 'reason="malformed"'),
  };
  return { leftovers: left, api, metrics };
}

/**
 * The check. `run.alerts` = { topic (the alerts topic), rules, area, settle (settleAlerts' answer),
 * engineKills: [{ killAt, exitedAt, restoredAt }] }; `run.brokers`, `run.topic`, `run.dbUrl`,
 * `run.redisUrl`, `run.ackedLogs` as for the other checks.
 */
export async function checkAlerts(run) {
  const a = run.alerts;
  const rules = a.rules ?? ALERT_RULES;
  const area = a.area ?? SERVICE_AREA;
  const redis = createClient({ url: run.redisUrl });
  redis.on('error', () => {});
  await redis.connect();
  try {
    // 1. The engine's input: fleet-events up to the offsets it applied, per car in partition order.
    const kafka = new Kafka({ brokers: run.brokers, clientId: 'chaos-alerts-check', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const partitions = (await admin.fetchTopicOffsets(run.topic)).length;
    await admin.disconnect();
    const applied = await appliedOffsets(redis, run.topic, partitions);
    const leftovers = await engineLeftovers(redis, run.topic, partitions);
    const inputsByCar = new Map();
    const partitionOf = new Map();
    const splitCars = new Set();
    const sampleOf = new Map(); // "car ts" → the first telemetry input with it
    const notConsumed = { telemetry: 0, presence: 0, booking_expired: 0 };
    const notConsumedKeys = new Set();
    let malformed = 0;
    let inputEvents = 0;
    await readTopicMessages(run.brokers, run.topic, ({ partition, offset, value }) => {
      const input = inputOf(parse(value));
      if (input === undefined) return;
      if (input.malformed) return void (malformed += 1);
      if (input.kind === 'telemetry' && !sampleOf.has(`${input.carId} ${input.ts}`)) sampleOf.set(`${input.carId} ${input.ts}`, input);
      if (offset >= (applied.get(partition) ?? 0)) {
        notConsumed[input.kind] += 1;
        if (input.kind === 'telemetry') notConsumedKeys.add(`${input.carId} ${input.ts}`);
        return;
      }
      inputEvents += 1;
      const p = partitionOf.get(input.carId);
      if (p !== undefined && p !== partition) splitCars.add(input.carId);
      partitionOf.set(input.carId, partition);
      if (!inputsByCar.has(input.carId)) inputsByCar.set(input.carId, []);
      inputsByCar.get(input.carId).push({ partition, offset, input });
    });

    // 2. The expectation over the engine's input.
    const expected = new Map();
    const expectedActive = new Set();
    const skipped = { late: 0, stale: 0, duplicate: 0 };
    const appliedTsOf = new Map();
    const skipRules = new Set();
    let ambiguousSamples = 0;
    // car_offline events the offline rule ignores (telemetry newer than their last_seen already applied), by reason.
    const ignoredOffline = {};
    const ignoredOfflineExamples = [];
    for (const [car, list] of inputsByCar) {
      list.sort((x, y) => x.partition - y.partition || x.offset - y.offset);
      const r = expectCar(car, list.map((x) => x.input), rules, area);
      for (const e of r.events) expected.set(e.eventId, e);
      for (const id of Object.values(r.active)) expectedActive.add(id);
      for (const k of Object.keys(skipped)) skipped[k] += r.skipped[k];
      appliedTsOf.set(car, r.appliedTs);
      for (const x of r.ignoredOffline) {
        ignoredOffline[x.reason ?? 'none'] = (ignoredOffline[x.reason ?? 'none'] ?? 0) + 1;
        if (ignoredOfflineExamples.length < 5) ignoredOfflineExamples.push({ car, ...x });
      }
      if (r.ambiguousArea > 0) {
        skipRules.add(`${car} outside_service_area`);
        ambiguousSamples += r.ambiguousArea;
      }
    }

    // 3. What the engine sent: fleet-alerts, each event id once (repeats compared), in topic order.
    const found = new Map();
    const foundList = [];
    let repeats = 0;
    const repeatsDiffering = [];
    const rawOf = new Map();
    const producedAt = new Map();
    let unparsable = 0;
    const alertsRead = await readTopicMessages(run.brokers, a.topic, ({ partition, offset, timestamp, value }) => {
      const e = parse(value);
      if (e === undefined || typeof e.event_id !== 'string') return void (unparsable += 1);
      const raw = value.toString('utf8');
      if (found.has(e.event_id)) {
        repeats += 1;
        if (rawOf.get(e.event_id) !== raw) repeatsDiffering.push(e.event_id);
        return;
      }
      const f = { eventId: e.event_id, alertId: e.alert_id, carId: e.car_id, rule: e.rule, transition: String(e.event_type).replace(/^alert_/, ''), severity: e.severity, at: e.at, partition, offset };
      found.set(e.event_id, f);
      foundList.push(f);
      rawOf.set(e.event_id, raw);
      producedAt.set(e.event_id, timestamp);
    });
    foundList.sort((x, y) => x.partition - y.partition || x.offset - y.offset);
    const seq = sequenceFaults(foundList);
    const diff = compareTransitions(expected, found, skipRules);

    // 4. fleet_alerts: each event once, the same set as the topic.
    const db = new pg.Client({ connectionString: run.dbUrl });
    await db.connect();
    let rows;
    try {
      ({ rows } = await db.query('SELECT event_id, count(*)::int AS n, min(transition) AS transition FROM fleet_alerts GROUP BY event_id'));
    } finally {
      await db.end();
    }
    const rowCount = new Map(rows.map((r) => [r.event_id, r.n]));
    const tableDuplicated = rows.filter((r) => r.n > 1).map((r) => r.event_id);
    const tableMissing = [...found.keys()].filter((id) => !rowCount.has(id));
    const tableUnexplained = [...rowCount.keys()].filter((id) => !found.has(id));

    // 5. The alerts in Redis (status), and the API's active list at the end.
    const ids = [...new Set([...[...expected.values()].map((e) => e.alertId), ...[...found.values()].map((f) => f.alertId)])];
    const statusOf = new Map();
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      const statuses = await Promise.all(batch.map((id) => redis.hGet(`${ALERT_PREFIX}alert:${id}`, 'status')));
      batch.forEach((id, k) => statusOf.set(id, statuses[k] ?? null));
    }
    const redisActive = new Set(ids.filter((id) => statusOf.get(id) === 'active'));
    const keptId = (id) => !skipRules.has(`${id.split(`.${ruleOfAlert(id)}.`)[0]} ${ruleOfAlert(id)}`);
    const leftActive = [...redisActive].filter((id) => keptId(id) && !expectedActive.has(id)); // active although its condition ended
    const notActive = [...expectedActive].filter((id) => keptId(id) && !redisActive.has(id)); // condition holds, alert not active
    const api = a.settle?.api;
    let apiMismatch = null;
    if (api && api.ids && api.total <= 1000) {
      const apiSet = new Set(api.ids);
      apiMismatch = [...apiSet].filter((id) => !expectedActive.has(id) && keptId(id)).length + [...expectedActive].filter((id) => !apiSet.has(id) && keptId(id)).length;
    }

    // 6. From the acknowledged CarStatus alone (telemetry rules), for the cars whose engine input is exactly them.
    const { acked } = readAckedLogs(run.ackedLogs);
    const ackedTsOf = new Map();
    for (const key of acked.keys()) {
      const [car, ts] = key.split(' ');
      if (!ackedTsOf.has(car)) ackedTsOf.set(car, []);
      ackedTsOf.get(car).push(Number(ts));
    }
    const fromAcked = { cars: 0, identicalCars: 0, episodes: 0, transitions: 0, mismatched: [], ackedNotApplied: 0, unackedApplied: 0, notOnTopic: 0, notConsumed: 0, differingCars: [] };
    const foundByCar = new Map();
    for (const f of found.values()) {
      if (!foundByCar.has(f.carId)) foundByCar.set(f.carId, new Map());
      foundByCar.get(f.carId).set(f.eventId, f);
    }
    for (const [car, tsList] of ackedTsOf) {
      fromAcked.cars += 1;
      tsList.sort((x, y) => x - y);
      const appliedTs = appliedTsOf.get(car) ?? [];
      const appliedSet = new Set(appliedTs);
      const ackedSet = new Set(tsList);
      const ackedNotApplied = tsList.filter((ts) => !appliedSet.has(ts));
      const unackedApplied = appliedTs.filter((ts) => !ackedSet.has(ts));
      fromAcked.ackedNotApplied += ackedNotApplied.length;
      fromAcked.unackedApplied += unackedApplied.length;
      fromAcked.notConsumed += tsList.filter((ts) => notConsumedKeys.has(`${car} ${ts}`)).length;
      if (ackedNotApplied.length > 0 || unackedApplied.length > 0) {
        fromAcked.differingCars.push({ car, ackedNotApplied: ackedNotApplied.length, unackedApplied: unackedApplied.length });
        continue;
      }
      fromAcked.identicalCars += 1;
      const samples = [];
      for (const ts of tsList) {
        const s = sampleOf.get(`${car} ${ts}`);
        if (s === undefined) fromAcked.notOnTopic += 1;
        else samples.push({ ...s, late: false });
      }
      const r = expectCar(car, samples, rules, area);
      const mine = new Map(r.events.filter((e) => TELEMETRY_RULES.includes(e.rule) && !skipRules.has(`${car} ${e.rule}`)).map((e) => [e.eventId, e]));
      const theirs = new Map([...(foundByCar.get(car) ?? new Map())].filter(([, f]) => TELEMETRY_RULES.includes(f.rule) && !skipRules.has(`${car} ${f.rule}`)));
      fromAcked.transitions += mine.size;
      fromAcked.episodes += [...mine.values()].filter((e) => e.transition === 'raised').length;
      for (const id of mine.keys()) if (!theirs.has(id)) fromAcked.mismatched.push({ car, event: id, kind: 'missing' });
      for (const id of theirs.keys()) if (!mine.has(id)) fromAcked.mismatched.push({ car, event: id, kind: 'unexplained' });
    }

    // 7. Around each kill of the engine: alerts active then must not be raised again (a raise while active is counted in duplicatedRaises).
    const kills = (a.engineKills ?? []).map((k) => {
      const activeThen = new Set();
      for (const f of foundList) {
        if ((producedAt.get(f.eventId) ?? Infinity) >= k.killAt) continue;
        if (f.transition === 'raised') activeThen.add(f.alertId);
        if (f.transition === 'cleared') activeThen.delete(f.alertId);
      }
      const after = foundList.filter((f) => (producedAt.get(f.eventId) ?? 0) >= k.killAt);
      return {
        ...k,
        activeAtKill: activeThen.size,
        raisedAgain: seq.duplicatedRaises.filter((d) => activeThen.has(d.active)).length,
        eventsAfter: after.length,
      };
    });

    const expectedList = [...expected.values()];
    const perRule = countByRule(expectedList.filter((e) => !skipRules.has(`${e.carId} ${e.rule}`)), [...expectedActive].filter(keptId));
    const n = (o) => Object.values(o).reduce((s, l) => s + l.length, 0);
    const totals = {
      inputEvents,
      cars: inputsByCar.size,
      skipped,
      malformed,
      notConsumed,
      splitCars: splitCars.size,
      expected: expected.size,
      expectedActiveAtEnd: expectedActive.size,
      found: found.size,
      topicRecords: found.size + repeats,
      redelivered: repeats,
      redeliveredDiffering: repeatsDiffering.length,
      unparsable,
      missing: n(diff.missing),
      missingRaised: diff.missing.raised.length,
      missingCleared: diff.missing.cleared.length,
      missingRefreshed: diff.missing.refreshed.length,
      unexplained: n(diff.unexplained),
      severityMismatch: diff.severity.length,
      duplicatedRaises: seq.duplicatedRaises.length,
      orphans: seq.orphans.length,
      leftActive: leftActive.length,
      notActive: notActive.length,
      apiMismatch,
      apiTotal: api?.total ?? null,
      rows: rows.length,
      tableDuplicated: tableDuplicated.length,
      tableMissing: tableMissing.length,
      tableUnexplained: tableUnexplained.length,
      outboxLeft: Object.values(leftovers.outboxes).reduce((s, x) => s + x, 0) + leftovers.outboxDb,
      ambiguousAreaCars: skipRules.size,
      ambiguousAreaSamples: ambiguousSamples,
      ignoredOffline,
    };
    const failures = [];
    const need = (cond, what) => (cond ? undefined : failures.push(what));
    need(totals.expected > 0 && totals.found > 0, 'no alerts at all');
    need(totals.missing === 0, `${totals.missing} expected alert events missing`);
    need(totals.unexplained === 0, `${totals.unexplained} alert events nobody expected`);
    need(totals.severityMismatch === 0, `${totals.severityMismatch} with another severity`);
    need(totals.duplicatedRaises === 0, `${totals.duplicatedRaises} raised while the car's alert of that rule was active`);
    need(totals.orphans === 0, `${totals.orphans} refreshes/clears of an alert that was not the active one`);
    need(totals.redeliveredDiffering === 0, `${totals.redeliveredDiffering} event ids repeated with other content`);
    need(totals.leftActive === 0, `${totals.leftActive} alerts active in Redis after their condition ended`);
    need(totals.notActive === 0, `${totals.notActive} alerts not active although their condition held at the end`);
    need(apiMismatch === null || apiMismatch === 0, `the API's active list differs by ${apiMismatch}`);
    need(api === undefined || (api.ids !== undefined && api.status === 200), `the API's active list could not be read (${api?.error ?? api?.status})`);
    need(totals.tableDuplicated + totals.tableMissing + totals.tableUnexplained === 0, 'fleet_alerts differs from the topic');
    need(totals.outboxLeft === 0, `${totals.outboxLeft} alert events left in the engine's outboxes`);
    need(totals.splitCars === 0, `${totals.splitCars} cars' events on more than one partition`);
    need(fromAcked.mismatched.length === 0, `${fromAcked.mismatched.length} differences between the acknowledged CarStatus' alerts and fleet-alerts`);
    need(fromAcked.notOnTopic === 0 && fromAcked.notConsumed === 0, 'acknowledged CarStatus the engine never took');
    need(a.settle === undefined || a.settle.drained === true, 'the engine had not taken every event when the run ended (its group\'s lag)');
    const ok = failures.length === 0;
    return {
      ok,
      failures,
      totals,
      perRule,
      fromAcked: { ...fromAcked, mismatched: fromAcked.mismatched.length, differingCars: fromAcked.differingCars.length },
      kills,
      settle: a.settle,
      rules,
      examples: {
        missing: Object.fromEntries(Object.entries(diff.missing).map(([k, l]) => [k, l.slice(0, 5)])),
        unexplained: Object.fromEntries(Object.entries(diff.unexplained).map(([k, l]) => [k, l.slice(0, 5)])),
        severity: diff.severity.slice(0, 5),
        duplicatedRaises: seq.duplicatedRaises.slice(0, 5),
        orphans: seq.orphans.slice(0, 5),
        leftActive: leftActive.slice(0, 5),
        notActive: notActive.slice(0, 5),
        tableMissing: tableMissing.slice(0, 5),
        tableUnexplained: tableUnexplained.slice(0, 5),
        fromAckedMismatched: fromAcked.mismatched.slice(0, 5),
        fromAckedDiffering: fromAcked.differingCars.slice(0, 5),
        repeatsDiffering: repeatsDiffering.slice(0, 5),
        ignoredOffline: ignoredOfflineExamples,
      },
      alertsTopicPartitions: alertsRead.partitions,
    };
  } finally {
    await redis.quit().catch(() => {});
  }
}

export function formatAlerts(c) {
  const t = c.totals;
  const r = c.rules;
  const lines = [];
  lines.push(
    `alerts (fleet-alerts, fleet_alerts): ${c.ok ? 'ok' : 'FAIL'}; engine input ${t.inputEvents} events of ${t.cars} cars up to its applied offsets ` +
      `(telemetry skipped as documented: late ${t.skipped.late}, stale ${t.skipped.stale}, duplicate ${t.skipped.duplicate}); ` +
      `rules: battery <${r.batteryLowPct}/<${r.batteryCriticalPct} % (+${r.batteryHysteresisPct}), overspeed >${r.overspeedKmh} km/h for ${r.overspeedSeconds} s, ` +
      `stall ${r.stallMinutes * 60} s, area + ${r.areaMarginM} m, no-show ${r.noShowClearMinutes} min, refresh ${r.refreshSeconds} s`,
  );
  const pad = (s, n) => String(s).padEnd(n);
  const num = (s, n) => String(s).padStart(n);
  lines.push(`${pad('rule', 22)}${num('raised', 8)}${num('refreshed', 11)}${num('cleared', 9)}${num('active@end', 12)}`);
  for (const [rule, x] of Object.entries(c.perRule)) lines.push(`${pad(rule, 22)}${num(x.raised, 8)}${num(x.refreshed, 11)}${num(x.cleared, 9)}${num(x.active, 12)}`);
  lines.push(
    `  expected ${t.expected} events, found ${t.found} (${t.topicRecords} records, ${t.redelivered} redelivered, ${t.redeliveredDiffering} differing): ` +
      `missing ${t.missing} (raised ${t.missingRaised}, cleared ${t.missingCleared}, refreshed ${t.missingRefreshed}), unexplained ${t.unexplained}, severity ${t.severityMismatch}; ` +
      `duplicated raises ${t.duplicatedRaises}, orphans ${t.orphans}; active at end ${t.expectedActiveAtEnd}: left active ${t.leftActive}, not active ${t.notActive}, ` +
      `API ${t.apiTotal === null ? 'not read' : `${t.apiTotal} (differs by ${t.apiMismatch})`}; fleet_alerts ${t.rows} rows: duplicated ${t.tableDuplicated}, missing ${t.tableMissing}, unexplained ${t.tableUnexplained}; outboxes left ${t.outboxLeft}`,
  );
  lines.push(`  car_offline events that raised nothing (the car's telemetry already newer than their last_seen, as documented), by reason: ${JSON.stringify(t.ignoredOffline)}`);
  const f = c.fromAcked;
  lines.push(
    `  from the acknowledged CarStatus: ${f.identicalCars} of ${f.cars} cars' engine input is exactly their acknowledged samples: ${f.episodes} episodes, ${f.transitions} transitions of the telemetry rules, ` +
      `differences ${f.mismatched}; ${f.differingCars} cars also had ${f.unackedApplied} stored-but-unacknowledged samples applied / ${f.ackedNotApplied} acknowledged ones the engine skipped (marked late, or older than one applied), checked against the engine's input; ` +
      `area samples within the tolerance ${t.ambiguousAreaSamples} (${t.ambiguousAreaCars} car(s) left out of the area comparison)`,
  );
  for (const k of c.kills) {
    lines.push(`  alert engine kill -9 at ${new Date(k.killAt).toISOString().slice(11, 19)}: back after ${((k.restoredAt - k.killAt) / 1000).toFixed(1)} s; ${k.activeAtKill} alerts active then, raised again ${k.raisedAgain}; ${k.eventsAfter} alert events after it`);
  }
  const m = c.settle?.metrics;
  if (m) lines.push(`  engine (since its last start): outbox resent ${m.outboxResent}, replayed events skipped ${m.replayedSkipped}, stale batches ${m.staleBatches}, malformed ${m.malformedSkipped}`);
  if (!c.ok) lines.push(`  FAILED: ${c.failures.join('; ')}`);
  return lines.join('\n');
}
