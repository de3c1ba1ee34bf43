/**
 * Presence in a fault run (issue 16 §2): the `ingestion-lost` fault kills the second ingestion with
 * kill -9 and leaves it down for two presence timeouts; this proves, from the acked logs, the
 * presence events on the topic and the `presence:{car}` hashes, that
 *
 * - every car that was on the killed instance and did not reconnect elsewhere (**silenced**) is
 *   marked offline within 2 × PRESENCE_TIMEOUT_MS of the kill, reason `instance_lost`, the event
 *   naming the killed instance (`held_by`), stays offline until the instance is back, and then comes
 *   back online; and the alert engine raised its `offline` alert;
 * - every car that was on it and reconnected through the other instance in time (**moved**) never
 *   got a `car_offline` (no flapping), and its hash names the surviving instance;
 * - no car on the surviving instance went offline meanwhile.
 *
 * The fleet of the phase (startPresenceFleet): cars through a TCP proxy that spreads connections
 * over both ingestions and, when one is gone, connects to the other (the movers: those whose
 * connection was on the killed one reconnect through the other), and cars straight at the second
 * ingestion (the silenced: nowhere else to go). Which cars were on the killed instance is what
 * their hashes say just before the kill; whether a car reconnected is whether it had a CarStatus
 * acknowledged after the killed process had exited and before it was started again (the killed
 * instance acknowledges nothing once dead).
 *
 * Boundary, stated: a car that moved is required not to flap only when its first acknowledgement
 * elsewhere came before kill + PRESENCE_TIMEOUT_MS − 2 × PRESENCE_FLUSH_MS (its deadline is its
 * last report + the timeout, reports are up to one flush late on both sides); one that took longer
 * ("moved late", a loaded machine) may be marked offline and must then come back online, and is
 * counted apart.
 */
import net from 'node:net';
import { join } from 'node:path';
import { createClient } from 'redis';
import { sleep } from './stack.mjs';
import { readAckedLogs, readTopicMessages } from './checker.mjs';

/** Presence settings of the fault runs' ingestions: short, so the phase takes seconds. */
export const PRESENCE = { timeoutMs: 5000, graceMs: 3000, flushMs: 1000 };

export function presenceEnv(p = PRESENCE) {
  return { PRESENCE_TIMEOUT_MS: String(p.timeoutMs), PRESENCE_GRACE_MS: String(p.graceMs), PRESENCE_FLUSH_MS: String(p.flushMs) };
}

/** The movers' TCP proxy port (15057 + offset). */
export const proxyPort = (cfg) => 15057 + cfg.offset;

/**
 * A TCP proxy: each new connection to the next backend in turn; one that refuses (a dead
 * ingestion) is skipped for the next. When either side closes, so does the other.
 */
export function startProxy(port, backends) {
  let next = 0;
  const sockets = new Set();
  const perBackend = backends.map(() => 0);
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    const first = next++ % backends.length;
    const attempt = (i) => {
      if (i >= backends.length || client.destroyed) return void client.destroy();
      const index = (first + i) % backends.length;
      const upstream = net.connect(backends[index].port, backends[index].host);
      sockets.add(upstream);
      let connected = false;
      upstream.on('close', () => {
        sockets.delete(upstream);
        if (connected) client.destroy();
      });
      upstream.on('error', () => {
        if (!connected) attempt(i + 1);
        upstream.destroy();
      });
      upstream.once('connect', () => {
        connected = true;
        perBackend[index] += 1;
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  const listening = new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    listening,
    perBackend,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const carIds = (prefix, n) => Array.from({ length: n }, (_, k) => `${prefix}${String(k + 1).padStart(3, '0')}`);

/**
 * The phase's cars, for the whole run: `movers` through the proxy, `silenced` straight at the
 * second ingestion. `startSimulator` is run-chaos's. Returns the simulators (with their acked
 * logs), the groups of car ids and the proxy.
 */
export async function startPresenceFleet({ cfg, tag, dir, intervalMs, seed, startSimulator, movers = 12, silenced = 8 }) {
  const proxy = startProxy(proxyPort(cfg), cfg.ingestion.map((p) => ({ host: '127.0.0.1', port: p.grpcPort })));
  await proxy.listening;
  const spec = [
    { name: 'simulator-movers', target: `127.0.0.1:${proxyPort(cfg)}`, cars: movers, prefix: `${tag}M-` },
    { name: 'simulator-silenced', target: `127.0.0.1:${cfg.ingestion[1].grpcPort}`, cars: silenced, prefix: `${tag}S-` },
  ];
  const sims = spec.map((s, i) => {
    const ackedLog = join(dir, `acked-${s.name.slice('simulator-'.length)}.log`);
    const commandLog = join(dir, `commands-${s.name.slice('simulator-'.length)}.log`);
    return { ackedLog, commandLog, ...startSimulator({ name: s.name, target: s.target, cars: s.cars, intervalMs, seed: seed + 60 + i, prefix: s.prefix, ackedLog, commandLog, logDir: dir }) };
  });
  return { sims, groups: { movers: carIds(spec[0].prefix, movers), silenced: carIds(spec[1].prefix, silenced) }, proxy };
}

/** Every `presence:{car}` hash: car → { state, instance, reason, since, last_seen }. */
export async function snapshotPresence(redisUrl) {
  const redis = createClient({ url: redisUrl });
  redis.on('error', () => {});
  await redis.connect();
  try {
    const keys = [];
    for await (const chunk of redis.scanIterator({ MATCH: 'presence:*', COUNT: 1000 })) {
      for (const key of Array.isArray(chunk) ? chunk : [chunk]) if (key !== 'presence:due' && !key.startsWith('presence:instance:')) keys.push(key);
    }
    const hashes = await Promise.all(keys.map((k) => redis.hGetAll(k)));
    const out = {};
    keys.forEach((k, i) => {
      const h = hashes[i];
      out[k.slice('presence:'.length)] = { state: h.state, instance: h.instance, reason: h.reason, since: Number(h.since) || null, last_seen: Number(h.last_seen) || null };
    });
    return out;
  } finally {
    await redis.quit().catch(() => {});
  }
}

const mostCommon = (values) => {
  const n = new Map();
  for (const v of values) if (v) n.set(v, (n.get(v) ?? 0) + 1);
  return [...n].sort((a, b) => b[1] - a[1])[0]?.[0];
};

/**
 * The fault: the second ingestion killed with kill -9; presence read just before; left down until
 * two timeouts (and two flushes, for the event to be out) after the kill; presence read again;
 * started again. Returns what the check needs.
 */
export async function ingestionLost({ services }) {
  const p = services.presence;
  if (p === undefined || services.ingestion.length < 2) throw new Error('ingestion-lost needs the run\'s second ingestion and its presence fleet');
  const target = services.ingestion[1];
  const before = await snapshotPresence(p.redisUrl);
  const killedInstance = mostCommon(p.groups.silenced.map((car) => before[car]?.instance));
  const killAt = Date.now();
  await target.kill9();
  const exitedAt = Date.now();
  await sleep(Math.max(0, killAt + 2 * p.settings.timeoutMs + 2 * p.settings.flushMs - Date.now()));
  const duringAt = Date.now();
  const during = await snapshotPresence(p.redisUrl);
  const restartAt = Date.now();
  await target.start();
  return { killedInstance, killAt, exitedAt, duringAt, restartAt, restoredAt: Date.now(), before, during, settings: p.settings, groups: p.groups };
}

/** Waits until every car with a presence hash is offline (the simulators have stopped); false at the deadline. */
export async function settlePresence(redisUrl, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await snapshotPresence(redisUrl);
    const online = Object.values(all).filter((h) => h.state === 'online').length;
    if (online === 0) return { allOffline: true, cars: Object.keys(all).length };
    if (Date.now() > deadline) return { allOffline: false, online, cars: Object.keys(all).length };
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------
// The check (pure part)
// ---------------------------------------------------------------------------------------------

/**
 * detail: the fault's record; acksOf: car → sorted acked_at; presenceOf: car → [{ type, ts, reason,
 * heldBy, lastSeen, newestTelemetry }] in topic order; offlineAlertsOf: car → [raised_at of its
 * offline alerts]; windowEnd: when the phase's window closes (the next fault, or the simulators'
 * stop); exclude: cars that go offline on purpose (the incidents' vanishing and dropping cars).
 */
export function classifyPresence({ detail, acksOf, presenceOf, offlineAlertsOf = new Map(), windowEnd, exclude = new Set() }) {
  const { killAt, exitedAt, restartAt, killedInstance, settings } = detail;
  const T = settings.timeoutMs;
  const deadline = killAt + 2 * T;
  const promptBefore = killAt + T - 2 * settings.flushMs;
  const res = { killedInstance, onKilled: 0, silenced: [], moved: [], movedLate: [], unaffected: 0, faults: [] };
  const fault = (car, what, extra = {}) => res.faults.push({ car, what, ...extra });
  for (const [car, b] of Object.entries(detail.before)) {
    if (b.state !== 'online' || exclude.has(car)) continue;
    const presence = presenceOf.get(car) ?? [];
    const inWindow = presence.filter((e) => e.ts >= killAt && e.ts < windowEnd);
    if (b.instance !== killedInstance) {
      res.unaffected += 1;
      const off = inWindow.find((e) => e.type === 'car_offline');
      if (off) fault(car, 'went offline although its instance was not killed', { at: off.ts, reason: off.reason });
      continue;
    }
    res.onKilled += 1;
    const acks = acksOf.get(car) ?? [];
    const firstAck = acks.find((t) => t > exitedAt && t < restartAt);
    const during = detail.during?.[car];
    if (firstAck === undefined) {
      const off = presence.find((e) => e.ts >= killAt && e.type === 'car_offline');
      const entry = { car, offlineAfterMs: off ? off.ts - killAt : null, reason: off?.reason ?? null };
      res.silenced.push(entry);
      if (!off || off.ts > deadline) fault(car, `silenced, not offline within 2 × ${T} ms of the kill`, { offlineAt: off?.ts ?? null });
      else {
        if (off.reason !== 'instance_lost') fault(car, `offline as ${off.reason}, not instance_lost`);
        if (off.heldBy !== killedInstance) fault(car, `offline event names ${off.heldBy}, not the killed instance`);
        const online = presence.find((e) => e.type === 'car_online' && e.ts > off.ts && e.ts < restartAt);
        if (online) fault(car, 'back online before its instance was', { at: online.ts });
        const back = presence.find((e) => e.type === 'car_online' && e.ts >= restartAt);
        if (!back) fault(car, 'never back online after its instance was started again');
        const alert = (offlineAlertsOf.get(car) ?? []).find((t) => t >= killAt && t <= deadline);
        entry.alert = alert !== undefined;
        if (alert === undefined) {
          entry.newestTelemetry = off.newestTelemetry ?? null;
          entry.lastSeen = off.lastSeen ?? null;
          fault(car, 'silenced and offline, but no offline alert raised', { lastSeen: off.lastSeen ?? null, newestTelemetry: off.newestTelemetry ?? null });
        }
      }
      if (during && !(during.state === 'offline' && during.reason === 'instance_lost')) fault(car, `presence hash during the outage: ${during.state} (${during.reason})`);
      continue;
    }
    const off = inWindow.find((e) => e.type === 'car_offline');
    if (firstAck < promptBefore) {
      res.moved.push({ car, firstAckAfterMs: firstAck - killAt });
      if (off) fault(car, 'moved to the other instance in time, yet marked offline (flapped)', { at: off.ts, reason: off.reason });
      if (during && (during.state !== 'online' || during.instance === killedInstance)) fault(car, `moved, but its hash during the outage says ${during.state} on ${during.instance}`);
    } else {
      res.movedLate.push({ car, firstAckAfterMs: firstAck - killAt, offline: off !== undefined });
      if (off && !presence.some((e) => e.type === 'car_online' && e.ts > off.ts)) fault(car, 'moved late, marked offline and never back online');
    }
  }
  if (res.silenced.length === 0) fault(null, 'no car was silenced: nothing proven about detection');
  if (res.moved.length === 0) fault(null, 'no car moved in time: nothing proven about flapping');
  return res;
}

/**
 * Every car's presence events in topic order, as a sequence: `car_online` (first_seen / reconnected)
 * and `car_offline` must alternate. A `reconnected` with no `car_offline` before it, or two of a kind
 * in a row, means an event was lost (its change is in Redis, its event never reached the topic:
 * the ingestion's README names one such gap, an instance dying between the two). Each is placed in
 * the fault window it falls in (faults: [{ name, at }]).
 */
export function presenceGaps(presenceOf, faults = []) {
  const gaps = [];
  const windowOf = (ts) => [...faults].reverse().find((f) => ts >= f.at)?.name ?? 'before the faults';
  for (const [car, events] of presenceOf) {
    let state;
    for (const e of events) {
      const now = e.type === 'car_online' ? 'online' : 'offline';
      if (state === now) gaps.push({ car, at: e.ts, what: `${e.type} twice in a row`, window: windowOf(e.ts) });
      else if (state === undefined && now === 'online' && e.reason === 'reconnected') gaps.push({ car, at: e.ts, what: 'car_online reconnected without a car_offline before it', window: windowOf(e.ts) });
      state = now;
    }
  }
  return gaps;
}

/** Reads the run and classifies. `run.presence` = { fault (detail), windowEnd, exclude }; `run.alerts.topic` for the offline alerts. */
export async function checkPresence(run) {
  const detail = run.presence.fault;
  const { acked } = readAckedLogs(run.ackedLogs);
  const acksOf = new Map();
  for (const [key, at] of acked) {
    const car = key.slice(0, key.indexOf(' '));
    if (!acksOf.has(car)) acksOf.set(car, []);
    acksOf.get(car).push(at);
  }
  for (const list of acksOf.values()) list.sort((a, b) => a - b);
  const presenceOf = new Map();
  const newest = new Map();
  const parse = (value) => {
    try {
      return JSON.parse(value.toString('utf8'));
    } catch {
      return undefined;
    }
  };
  const events = [];
  await readTopicMessages(run.brokers, run.topic, (m) => {
    const e = parse(m.value);
    if (!e || typeof e.car_id !== 'string') return;
    if (e.event_type === 'telemetry' || e.event_type === 'car_online' || e.event_type === 'car_offline') events.push({ p: m.partition, o: m.offset, e });
  });
  events.sort((a, b) => a.p - b.p || a.o - b.o);
  for (const { e } of events) {
    if (e.event_type === 'telemetry') {
      if (e.late !== true) newest.set(e.car_id, Math.max(newest.get(e.car_id) ?? 0, e.timestamp));
      continue;
    }
    if (!presenceOf.has(e.car_id)) presenceOf.set(e.car_id, []);
    presenceOf.get(e.car_id).push({ type: e.event_type, ts: e.timestamp, reason: e.reason, heldBy: e.held_by, lastSeen: e.last_seen ?? null, newestTelemetry: newest.get(e.car_id) ?? null });
  }
  const offlineAlertsOf = new Map();
  if (run.alerts?.topic) {
    await readTopicMessages(run.brokers, run.alerts.topic, (m) => {
      const e = parse(m.value);
      if (!e || e.event_type !== 'alert_raised' || e.rule !== 'offline') return;
      if (!offlineAlertsOf.has(e.car_id)) offlineAlertsOf.set(e.car_id, []);
      offlineAlertsOf.get(e.car_id).push(e.raised_at);
    });
  }
  const res = classifyPresence({ detail, acksOf, presenceOf, offlineAlertsOf, windowEnd: run.presence.windowEnd ?? Infinity, exclude: new Set(run.presence.exclude ?? []) });
  const gaps = presenceGaps(presenceOf, run.faults ?? []);
  const gapsByWindow = {};
  for (const g of gaps) gapsByWindow[`${g.window}: ${g.what}`] = (gapsByWindow[`${g.window}: ${g.what}`] ?? 0) + 1;
  const lat = res.silenced.map((s) => s.offlineAfterMs).filter((x) => x !== null).sort((a, b) => a - b);
  const quantile = (q) => (lat.length === 0 ? null : lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]);
  return {
    ok: res.faults.length === 0,
    killedInstance: res.killedInstance,
    killAt: detail.killAt,
    downMs: detail.restartAt - detail.killAt,
    settings: detail.settings,
    totals: {
      onKilled: res.onKilled,
      silenced: res.silenced.length,
      silencedOfflineInTime: res.silenced.filter((s) => s.offlineAfterMs !== null && s.offlineAfterMs <= 2 * detail.settings.timeoutMs).length,
      silencedWithAlert: res.silenced.filter((s) => s.alert).length,
      moved: res.moved.length,
      movedLate: res.movedLate.length,
      movedLateOffline: res.movedLate.filter((m) => m.offline).length,
      unaffected: res.unaffected,
      faults: res.faults.length,
    },
    detectionMs: { p50: quantile(0.5), max: lat.at(-1) ?? null },
    movedFirstAckMs: { max: Math.max(0, ...res.moved.map((m) => m.firstAckAfterMs)) },
    faultKinds: Object.fromEntries([...new Set(res.faults.map((f) => f.what))].map((what) => [what, res.faults.filter((f) => f.what === what).length])),
    faults: res.faults.slice(0, 20),
    silenced: res.silenced,
    // Reported, not part of the verdict: presence events lost across the whole run.
    presenceEvents: [...presenceOf.values()].reduce((n, l) => n + l.length, 0),
    gaps: gaps.length,
    gapsByWindow,
    gapExamples: gaps.slice(0, 5),
  };
}

export function formatPresence(p) {
  const t = p.totals;
  const s = p.settings;
  const lines = [
    `presence (ingestion-2 kill -9, down ${(p.downMs / 1000).toFixed(1)} s; PRESENCE_TIMEOUT_MS ${s.timeoutMs}, deadline 2 × = ${2 * s.timeoutMs} ms): ${p.ok ? 'ok' : 'FAIL'}; ` +
      `${t.onKilled} cars on the killed instance: ${t.silenced} silenced, offline (instance_lost) within the deadline ${t.silencedOfflineInTime} ` +
      `(after ${p.detectionMs.p50} ms p50, ${p.detectionMs.max} ms max), with an offline alert ${t.silencedWithAlert}; ` +
      `${t.moved} moved in time (first ack elsewhere ≤ ${p.movedFirstAckMs.max} ms after the kill), none may flap; ${t.movedLate} moved late (${t.movedLateOffline} marked offline); ` +
      `${t.unaffected} cars on the other instance`,
    `  presence events on the topic ${p.presenceEvents}; out of sequence (an event lost) ${p.gaps}${p.gaps ? ` ${JSON.stringify(p.gapsByWindow)}` : ''} (reported, not part of the verdict)`,
  ];
  if (!p.ok) {
    for (const [what, count] of Object.entries(p.faultKinds)) {
      const e = p.faults.find((f) => f.what === what);
      const { car, what: _w, ...rest } = e ?? {};
      lines.push(`  FAILED: ${what}: ${count}${car ? ` (e.g. ${car} ${JSON.stringify(rest)})` : ''}`);
    }
  }
  return lines.join('\n');
}
