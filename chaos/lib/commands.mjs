/**
 * Operators' commands in a chaos run (issue 15): a driver that sends commands to the run's cars
 * through the command API while the faults come and go, and the check of what became of them.
 *
 * The driver issues a few commands a second, a mix (EMERGENCY_STOP then RESUME for the same car a
 * moment later, REROUTE and RETURN_TO_BASE to points in Manhattan, START_CHARGING / STOP_CHARGING
 * at the station a car is plugged in at), each with a short `ttl_ms` and `timeout_ms` so every one
 * is final soon after the run. A POST that fails with a 5xx or a connection error is sent again
 * (a new command: the first may or may not exist); only a command whose POST got its 202 counts as
 * accepted, and each is written to the accepted log (one JSON line, with its car). A few go to
 * `offlineCars` (cars that sent telemetry once and went away): they must end EXPIRED, never sent.
 *
 * The check (checkCommands), from the accepted log, the cars' --command-log files, the run's
 * `fleet-commands` topic and Redis at the end:
 *   1. every accepted command is final (SUCCEEDED, FAILED, TIMED_OUT or EXPIRED): none stays
 *      QUEUED, SENT or DELIVERED;
 *   2. none was carried out by a car it was not for (the log line's car_id = the command's car);
 *   3. none was carried out twice (a command_id at most once across every command log);
 *   4. every SUCCEEDED command was carried out by its car (it is in the logs). A car carries a
 *      command out before it answers, so the converse does not hold: a command carried out whose
 *      answer was lost (the ingestion killed before it recorded it) ends TIMED_OUT, which is
 *      counted, not a fault. A command carried out that ended FAILED (the car answered rejected)
 *      or EXPIRED (it was never sent) is a fault;
 *   5. the topic holds, for every accepted command, its QUEUED change and its final status (the
 *      one Redis holds), no second different final status, and no change after the final one;
 *   6. every command to an offline car ended EXPIRED (and, by 4, was never carried out).
 * Log lines of commands whose POST never got its answer (issued, then the API or Redis went away
 * before the 202) are checked for car and repeats like the rest, by what Redis and the topic say
 * of them; a line naming a command known nowhere is unexplained (a fault).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createClient } from 'redis';
import { insideIsland } from '../../simulator/dist/src/manhattan/streets.js';
import { readTopic } from './checker.mjs';
import { sleep } from './stack.mjs';

export const FINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'EXPIRED']);

/** The simulator's Manhattan box (CONTRACTS.md), and a few bases cars are sent back to. */
export const MANHATTAN = { latMin: 40.7, latMax: 40.85, lonMin: -74.02, lonMax: -73.93 };
export const BASES = [
  { latitude: 40.7069, longitude: -74.0113 }, // Financial District
  { latitude: 40.7506, longitude: -73.9935 }, // Midtown West
  { latitude: 40.8075, longitude: -73.9626 }, // Morningside Heights
];

export const DRIVER_DEFAULTS = {
  /** Commands a second, about. */
  rate: 3,
  /** Short lifetimes, so every command is final soon after the run (the settle below). */
  ttlMs: { EMERGENCY_STOP: 10_000, RESUME: 15_000, REROUTE: 20_000, RETURN_TO_BASE: 20_000, START_CHARGING: 20_000, STOP_CHARGING: 20_000 },
  timeoutMs: 5_000,
  /** RESUME follows its EMERGENCY_STOP after this long, at random in the range. */
  resumeAfterMs: [1_000, 3_000],
  /** A POST that fails with 5xx / no connection is sent again, for this long at most. */
  retryForMs: 60_000,
  requestTimeoutMs: 10_000,
  maxInFlight: 64,
  seed: 15,
  /** Share of the commands that go to `offlineCars`. */
  offlineShare: 0.05,
  offlineTtlMs: 5_000,
};

/** The longest a command of the driver can stay unfinished once its car is reachable: sent just before it expires, then its timeout. */
export function longestLifetimeMs(o = DRIVER_DEFAULTS) {
  return Math.max(...Object.values(o.ttlMs)) + o.timeoutMs;
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Starts sending commands to `cars` (their ids) through the API at `apiUrl` with `token`.
 * `acceptedLog`: the file every accepted command is appended to. `redisUrl`: where the driver
 * reads whether a car is plugged in (for the charging commands; skipped while Redis is away).
 * Returns { stop(), waitFinal(deadlineMs), summary() }.
 */
export function startCommandDriver({ apiUrl, token, cars, offlineCars = [], acceptedLog, redisUrl, say = () => {}, ...options }) {
  const o = { ...DRIVER_DEFAULTS, ...options, ttlMs: { ...DRIVER_DEFAULTS.ttlMs, ...(options.ttlMs ?? {}) } };
  const random = mulberry32(o.seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const accepted = new Map(); // command_id → record
  const counts = {
    posts: 0,
    retried: 0,
    abandoned: 0,
    refused: {}, // status → n (4xx answers to the driver's valid commands)
    refusedExamples: [],
    retryCauses: {}, // '503' / 'ECONNREFUSED' / 'timeout' … → n
    skippedBusy: 0,
    skippedCharging: 0,
  };
  let stopping = false;
  let inFlight = 0;
  const pendingResumes = new Set();
  const inFlightPosts = new Set();
  const startedAt = Date.now();

  const redis = redisUrl ? createClient({ url: redisUrl, socket: { reconnectStrategy: () => 500, connectTimeout: 1000 } }) : undefined;
  redis?.on('error', () => {});
  const redisReady = redis?.connect().catch(() => {});

  const cause = (key) => (counts.retryCauses[key] = (counts.retryCauses[key] ?? 0) + 1);

  /** POSTs one command until it has an answer other than 5xx / no connection; the record when accepted. */
  async function post(car, body, meta) {
    const until = Date.now() + o.retryForMs;
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      counts.posts += 1;
      let status;
      let answer;
      try {
        const response = await fetch(`${apiUrl}/v1/cars/${encodeURIComponent(car)}/commands`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(o.requestTimeoutMs),
        });
        status = response.status;
        answer = await response.json().catch(() => undefined);
      } catch (error) {
        cause(error?.name === 'TimeoutError' ? 'timeout' : (error?.cause?.code ?? error?.name ?? 'error'));
      }
      if (status === 202 && answer?.command_id) {
        const record = {
          command_id: answer.command_id,
          car_id: car,
          type: body.type,
          accepted_at: Date.now(),
          issued_at: answer.issued_at,
          ttl_ms: body.ttl_ms,
          timeout_ms: body.timeout_ms,
          attempts: attempt,
          ...meta,
        };
        accepted.set(record.command_id, record);
        appendFileSync(acceptedLog, JSON.stringify(record) + '\n');
        return record;
      }
      if (status !== undefined && status < 500) {
        // A refusal of a valid command: counted (429 = the car's queue is full; anything else is unexpected).
        counts.refused[status] = (counts.refused[status] ?? 0) + 1;
        if (counts.refusedExamples.length < 5) counts.refusedExamples.push({ car, body, status, answer });
        return undefined;
      }
      if (status !== undefined) cause(String(status));
      if (Date.now() + delay > until) {
        counts.abandoned += 1;
        return undefined;
      }
      counts.retried += 1;
      await sleep(delay);
      delay = Math.min(2000, delay * 1.5);
    }
  }

  function send(car, type, extra = {}, meta = {}) {
    const body = { type, ttl_ms: o.ttlMs[type], timeout_ms: o.timeoutMs, ...extra };
    inFlight += 1;
    const p = post(car, body, meta).finally(() => {
      inFlight -= 1;
      inFlightPosts.delete(p);
    });
    inFlightPosts.add(p);
    return p;
  }

  const inBox = () => ({
    latitude: Number((MANHATTAN.latMin + random() * (MANHATTAN.latMax - MANHATTAN.latMin)).toFixed(6)),
    longitude: Number((MANHATTAN.lonMin + random() * (MANHATTAN.lonMax - MANHATTAN.lonMin)).toFixed(6)),
  });
  /** A point on the island, mostly; one in ten anywhere in the box (the river: the car answers rejected). */
  const point = () => {
    if (random() < 0.1) return inBox();
    for (;;) {
      const p = inBox();
      if (insideIsland({ lat: p.latitude, lon: p.longitude })) return p;
    }
  };

  async function charging(car) {
    if (!redis?.isReady) return false;
    let state;
    try {
      state = await redis.hmGet(`car:${car}`, ['station_id', 'charging']);
    } catch {
      return false;
    }
    const [station, isCharging] = state;
    if (!station) return false;
    send(car, isCharging === 'true' || isCharging === '1' ? 'STOP_CHARGING' : 'START_CHARGING', { station_id: station });
    return true;
  }

  async function tick() {
    if (inFlight >= o.maxInFlight) return void (counts.skippedBusy += 1);
    const car = pick(cars);
    if (offlineCars.length > 0 && random() < o.offlineShare) {
      // A car that is away: queued, never sent, EXPIRED at its ttl (short: the settle need not wait long).
      const away = pick(offlineCars);
      const ttl = { ttl_ms: o.offlineTtlMs };
      return void (random() < 0.5 ? send(away, 'EMERGENCY_STOP', ttl, { offline: true }) : send(away, 'REROUTE', { ...point(), ...ttl }, { offline: true }));
    }
    const r = random();
    if (r < 0.35) {
      const stop = send(car, 'EMERGENCY_STOP');
      const [lo, hi] = o.resumeAfterMs;
      const resume = { car, timer: undefined, stopAccepted: false };
      pendingResumes.add(resume);
      stop.then((record) => {
        if (!record) return void pendingResumes.delete(resume);
        resume.stopAccepted = true;
        if (stopping) return; // stop() sends it
        resume.timer = setTimeout(() => {
          pendingResumes.delete(resume);
          send(car, 'RESUME');
        }, lo + random() * (hi - lo));
      });
    } else if (r < 0.6) {
      send(car, 'REROUTE', point());
    } else if (r < 0.8) {
      send(car, 'RETURN_TO_BASE', pick(BASES));
    } else {
      // Charging commands only make sense at the station a car is plugged in at; some car of a few is.
      for (let i = 0; i < 4; i++) if (await charging(pick(cars))) return;
      counts.skippedCharging += 1;
      send(car, 'REROUTE', point());
    }
  }

  const timer = setInterval(() => void tick(), Math.max(20, Math.round(1000 / o.rate)));

  return {
    accepted,
    /** Stops issuing; cars still stopped get their RESUME now; waits for the POSTs in flight. */
    async stop() {
      stopping = true;
      clearInterval(timer);
      await Promise.allSettled([...inFlightPosts]);
      for (const resume of pendingResumes) {
        clearTimeout(resume.timer);
        if (resume.stopAccepted) send(resume.car, 'RESUME');
      }
      pendingResumes.clear();
      while (inFlightPosts.size > 0) await Promise.allSettled([...inFlightPosts]);
      await redisReady;
      await redis?.quit().catch(() => {});
    },
    /**
     * Asks the API for every accepted command until all are final or `deadlineMs` passes;
     * returns how many are not final then (by status).
     */
    async waitFinal(deadlineMs) {
      const open = new Set(accepted.keys());
      const byStatus = {};
      for (;;) {
        for (const k of Object.keys(byStatus)) delete byStatus[k];
        const ids = [...open];
        for (let i = 0; i < ids.length; i += 32) {
          await Promise.all(
            ids.slice(i, i + 32).map(async (id) => {
              let status = 'UNREACHABLE';
              try {
                const response = await fetch(`${apiUrl}/v1/commands/${id}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
                status = response.ok ? (await response.json()).status : `HTTP_${response.status}`;
              } catch {
                // the API away for a moment: asked again
              }
              if (FINAL.has(status)) open.delete(id);
              else byStatus[status] = (byStatus[status] ?? 0) + 1;
            }),
          );
        }
        if (open.size === 0 || Date.now() > deadlineMs) return { open: open.size, byStatus: { ...byStatus } };
        say(`commands: ${open.size} not final yet ${JSON.stringify(byStatus)}`);
        await sleep(1000);
      }
    },
    summary() {
      const byType = {};
      for (const r of accepted.values()) byType[r.type] = (byType[r.type] ?? 0) + 1;
      const refusedUnexpected = Object.entries(counts.refused).filter(([s]) => s !== '429').reduce((n, [, v]) => n + v, 0);
      return { accepted: accepted.size, byType, ...counts, refusedUnexpected, seconds: Math.round((Date.now() - startedAt) / 1000) };
    },
  };
}

/**
 * Waits until every car of `cars` has sent telemetry (its `car:{id}` hash exists: what the API
 * requires before it accepts a command for it); the ids still unknown at the deadline.
 */
export async function waitCarsKnown(redisUrl, cars, deadlineMs) {
  const redis = createClient({ url: redisUrl });
  redis.on('error', () => {});
  await redis.connect();
  try {
    let unknown = [...cars];
    for (;;) {
      const known = await Promise.all(unknown.map((car) => redis.exists(`car:${car}`).catch(() => 0)));
      unknown = unknown.filter((_, i) => !known[i]);
      if (unknown.length === 0 || Date.now() > deadlineMs) return unknown;
      await sleep(250);
    }
  } finally {
    await redis.quit().catch(() => {});
  }
}

/**
 * Waits until the API's relay has put every entry of commands:log on the topic (the group has
 * nothing pending and has read to the end of the log); false at the deadline.
 */
export async function waitRelayed(redisUrl, deadlineMs) {
  const redis = createClient({ url: redisUrl });
  redis.on('error', () => {});
  await redis.connect();
  try {
    for (;;) {
      try {
        const stream = flatPairs(await redis.sendCommand(['XINFO', 'STREAM', 'commands:log']));
        const groups = (await redis.sendCommand(['XINFO', 'GROUPS', 'commands:log'])).map(flatPairs);
        const relay = groups.find((g) => g.name === 'fleet-commands-relay');
        if (relay && Number(relay.pending) === 0 && relay['last-delivered-id'] === stream['last-generated-id']) return true;
      } catch {
        // no log yet, or Redis away
      }
      if (Date.now() > deadlineMs) return false;
      await sleep(500);
    }
  } finally {
    await redis.quit().catch(() => {});
  }
}

function flatPairs(list) {
  const out = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1];
  return out;
}

function readJsonLines(paths) {
  const lines = [];
  let unparsable = 0;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        lines.push({ ...JSON.parse(line), file: path });
      } catch {
        unparsable += 1;
      }
    }
  }
  return { lines, unparsable };
}

/** What the topic holds per command: its changes (repeats by event_id dropped), in log order. */
export async function scanCommandsTopic(brokers, topic) {
  const byCommand = new Map();
  const seen = new Set();
  let events = 0;
  let repeats = 0;
  let unparsable = 0;
  await readTopic(brokers, topic, (value) => {
    events += 1;
    let e;
    try {
      e = JSON.parse(value.toString('utf8'));
    } catch {
      return void (unparsable += 1);
    }
    if (seen.has(e.event_id)) return void (repeats += 1);
    seen.add(e.event_id);
    const logId = String(e.event_id).slice(String(e.event_id).lastIndexOf(':') + 1);
    if (!byCommand.has(e.command_id)) byCommand.set(e.command_id, []);
    byCommand.get(e.command_id).push({ status: e.status, car: e.car_id, logId });
  });
  const logOrder = (a, b) => {
    const [am, as] = a.logId.split('-').map(Number);
    const [bm, bs] = b.logId.split('-').map(Number);
    return am - bm || as - bs;
  };
  for (const changes of byCommand.values()) changes.sort(logOrder);
  return { byCommand, events, repeats, unparsable };
}

/**
 * The check of a run's commands. `run.commands` = { acceptedLog, commandLogs: [...], topic,
 * driver (its summary) }; `run.brokers`, `run.redisUrl` as for the other checks.
 */
export async function checkCommands(run) {
  const c = run.commands;
  const { lines: acceptedLines } = readJsonLines([c.acceptedLog]);
  const accepted = new Map(acceptedLines.map((r) => [r.command_id, r]));
  const { lines: executions, unparsable: unparsableLog } = readJsonLines(c.commandLogs);
  const topic = await scanCommandsTopic(run.brokers, c.topic);

  const carriedOut = new Map(); // command_id → [log lines]
  for (const e of executions) {
    if (!carriedOut.has(e.command_id)) carriedOut.set(e.command_id, []);
    carriedOut.get(e.command_id).push(e);
  }

  // Redis: the status of every accepted command, and of every command a car carried out.
  const redis = createClient({ url: run.redisUrl });
  redis.on('error', () => {});
  await redis.connect();
  const state = new Map();
  try {
    const ids = [...new Set([...accepted.keys(), ...carriedOut.keys()])];
    for (let i = 0; i < ids.length; i += 200) {
      const batch = ids.slice(i, i + 200);
      const hashes = await Promise.all(batch.map((id) => redis.hGetAll(`command:${id}`)));
      batch.forEach((id, k) => state.set(id, hashes[k]));
    }
  } finally {
    await redis.quit().catch(() => {});
  }

  const finalByStatus = { SUCCEEDED: 0, FAILED: 0, TIMED_OUT: 0, EXPIRED: 0 };
  const notFinal = [];
  const succeededNotCarriedOut = [];
  const carriedOutTimedOut = [];
  const carriedOutWrongEnd = [];
  const topicMissingQueued = [];
  const topicMissingFinal = [];
  const topicFinalConflict = [];
  const topicAfterFinal = [];
  const statusMismatchCar = [];
  const offlineNotExpired = [];
  let offline = 0;
  let redelivered = 0;
  for (const [id, a] of accepted) {
    const h = state.get(id) ?? {};
    const status = h.status ?? 'MISSING';
    if (h.car_id !== undefined && h.car_id !== a.car_id) statusMismatchCar.push({ id, accepted: a.car_id, stored: h.car_id });
    if (FINAL.has(status)) finalByStatus[status] += 1;
    else notFinal.push({ id, car: a.car_id, type: a.type, status, deliveries: h.deliveries });
    if (Number(h.deliveries ?? 0) > 1) redelivered += 1;
    if (a.offline) {
      offline += 1;
      if (status !== 'EXPIRED') offlineNotExpired.push({ id, car: a.car_id, type: a.type, status, deliveries: h.deliveries });
    }
    const ran = carriedOut.get(id) ?? [];
    if (status === 'SUCCEEDED' && ran.length === 0) succeededNotCarriedOut.push({ id, car: a.car_id, type: a.type });
    if (ran.length > 0 && status === 'TIMED_OUT') carriedOutTimedOut.push({ id, car: a.car_id, type: a.type });
    if (ran.length > 0 && (status === 'FAILED' || status === 'EXPIRED')) carriedOutWrongEnd.push({ id, car: a.car_id, type: a.type, status, reason: h.reason });

    const changes = topic.byCommand.get(id) ?? [];
    if (!changes.some((ch) => ch.status === 'QUEUED')) topicMissingQueued.push(id);
    const finals = changes.filter((ch) => FINAL.has(ch.status));
    if (FINAL.has(status) && !finals.some((ch) => ch.status === status)) topicMissingFinal.push({ id, status, onTopic: changes.map((ch) => ch.status) });
    if (new Set(finals.map((ch) => ch.status)).size > 1) topicFinalConflict.push({ id, onTopic: changes.map((ch) => ch.status) });
    const firstFinal = changes.findIndex((ch) => FINAL.has(ch.status));
    if (firstFinal !== -1 && changes.slice(firstFinal + 1).some((ch) => !FINAL.has(ch.status))) topicAfterFinal.push({ id, onTopic: changes.map((ch) => ch.status) });
    if (changes.some((ch) => ch.car !== a.car_id)) statusMismatchCar.push({ id, accepted: a.car_id, onTopic: [...new Set(changes.map((ch) => ch.car))] });
  }

  // Every line of the command logs: its car, and at most once.
  const wrongCar = [];
  const twice = [];
  const orphans = [];
  const unexplained = [];
  for (const [id, ran] of carriedOut) {
    if (ran.length > 1) twice.push({ id, times: ran.length, cars: ran.map((e) => e.car_id), at: ran.map((e) => e.at) });
    let car = accepted.get(id)?.car_id;
    if (car === undefined) {
      // Issued by a POST whose 202 never arrived (the API or Redis went away in between): Redis or the topic knows it.
      car = state.get(id)?.car_id ?? topic.byCommand.get(id)?.[0]?.car;
      if (car === undefined) unexplained.push({ id, ran });
      else orphans.push({ id, car, status: state.get(id)?.status });
    }
    for (const e of ran) if (car !== undefined && e.car_id !== car) wrongCar.push({ id, for: car, carriedOutBy: e.car_id });
  }

  const d = c.driver ?? {};
  const totals = {
    accepted: accepted.size,
    acceptedByType: d.byType,
    posts: d.posts,
    postsRetried: d.retried,
    postsAbandoned: d.abandoned,
    refused: d.refused,
    refusedUnexpected: d.refusedUnexpected ?? 0,
    final: finalByStatus,
    notFinal: notFinal.length,
    executions: executions.length,
    commandsCarriedOut: carriedOut.size,
    unparsableLogLines: unparsableLog,
    carriedOutTwice: twice.length,
    wrongCar: wrongCar.length,
    succeededNotCarriedOut: succeededNotCarriedOut.length,
    carriedOutTimedOut: carriedOutTimedOut.length,
    carriedOutFailedOrExpired: carriedOutWrongEnd.length,
    redelivered,
    toOfflineCars: offline,
    offlineNotExpired: offlineNotExpired.length,
    orphansCarriedOut: orphans.length,
    unexplainedExecutions: unexplained.length,
    topicEvents: topic.events,
    topicRepeats: topic.repeats,
    topicUnparsable: topic.unparsable,
    topicMissingQueued: topicMissingQueued.length,
    topicMissingFinal: topicMissingFinal.length,
    topicFinalConflict: topicFinalConflict.length,
    topicChangeAfterFinal: topicAfterFinal.length,
    carMismatch: statusMismatchCar.length,
  };
  const ok =
    accepted.size > 0 &&
    finalByStatus.SUCCEEDED > 0 &&
    notFinal.length === 0 &&
    twice.length === 0 &&
    wrongCar.length === 0 &&
    succeededNotCarriedOut.length === 0 &&
    carriedOutWrongEnd.length === 0 &&
    unexplained.length === 0 &&
    unparsableLog === 0 &&
    topicMissingQueued.length === 0 &&
    topicMissingFinal.length === 0 &&
    topicFinalConflict.length === 0 &&
    topicAfterFinal.length === 0 &&
    statusMismatchCar.length === 0 &&
    offlineNotExpired.length === 0 &&
    topic.unparsable === 0 &&
    totals.refusedUnexpected === 0;
  const ex = (list) => list.slice(0, 5);
  return {
    ok,
    totals,
    examples: {
      notFinal: ex(notFinal),
      twice: ex(twice),
      wrongCar: ex(wrongCar),
      succeededNotCarriedOut: ex(succeededNotCarriedOut),
      carriedOutTimedOut: ex(carriedOutTimedOut),
      carriedOutFailedOrExpired: ex(carriedOutWrongEnd),
      orphans: ex(orphans),
      unexplained: ex(unexplained),
      topicMissingQueued: ex(topicMissingQueued),
      topicMissingFinal: ex(topicMissingFinal),
      topicFinalConflict: ex(topicFinalConflict),
      topicChangeAfterFinal: ex(topicAfterFinal),
      carMismatch: ex(statusMismatchCar),
      offlineNotExpired: ex(offlineNotExpired),
      refused: d.refusedExamples ?? [],
    },
  };
}

export function formatCommands(commands) {
  const t = commands.totals;
  const f = t.final;
  return (
    `commands: ${commands.ok ? 'ok' : 'FAIL'}; accepted ${t.accepted} ${JSON.stringify(t.acceptedByType ?? {})} of ${t.posts} POSTs (${t.postsRetried} retried, ${t.postsAbandoned} abandoned, refused ${JSON.stringify(t.refused ?? {})}); ` +
    `final SUCCEEDED ${f.SUCCEEDED} FAILED ${f.FAILED} TIMED_OUT ${f.TIMED_OUT} EXPIRED ${f.EXPIRED}, not final ${t.notFinal}; ` +
    `carried out ${t.executions} (${t.commandsCarriedOut} commands; ${t.orphansCarriedOut} issued without a 202), twice ${t.carriedOutTwice}, by the wrong car ${t.wrongCar}, unexplained ${t.unexplainedExecutions}; ` +
    `SUCCEEDED not carried out ${t.succeededNotCarriedOut}, carried out but TIMED_OUT ${t.carriedOutTimedOut}, carried out but FAILED/EXPIRED ${t.carriedOutFailedOrExpired}; redelivered ${t.redelivered}; to offline cars ${t.toOfflineCars}, not EXPIRED ${t.offlineNotExpired}; ` +
    `topic ${t.topicEvents} changes (${t.topicRepeats} repeats): QUEUED missing ${t.topicMissingQueued}, final missing ${t.topicMissingFinal}, conflicting finals ${t.topicFinalConflict}, changes after final ${t.topicChangeAfterFinal}`
  );
}
