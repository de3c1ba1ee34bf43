/**
 * The chaos checker: proves a run kept GreenLane's promises, from what the simulator saw
 * acknowledged (its --acked-log files), the topic, charging_sessions and Redis.
 *
 * 1. Every CarStatus acknowledged is on the topic (a telemetry event with its car_id and timestamp).
 * 2. Every charging sample on the topic is in charging_sessions exactly once: by (session_id, time),
 *    session_id computed as the pricing worker does; no row is missing, doubled or unexplained.
 * 3. Energy: for every stay, Σ kwh_usage = the stay's final meter reading on the topic.
 * 4. Slots: for every station, free (capacity) + booked + occupied = slots.
 * 5. History (runs with `history: true`): every acknowledged CarStatus in car_telemetry exactly once (history.mjs).
 * 6. Commands (runs with `commands`): every accepted command final, carried out at most once and only
 *    by its car, every SUCCEEDED one carried out, its QUEUED and final status on the topic (commands.mjs).
 * Then per fault: acks in its window, lost, duplicated rows, and recovery (see recovery()).
 */
import { readFileSync } from 'node:fs';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createClient } from 'redis';
import { classify, sessionIdOf } from '../../pricing-worker/dist/src/decode.js';
import { checkHistory } from './history.mjs';
import { checkCommands } from './commands.mjs';

const { Kafka, logLevel } = kafkajs;

/** acked-log lines `car_id timestamp acked_at_ms` → Map key "car ts" → acked_at. */
export function readAckedLogs(paths) {
  const acked = new Map();
  let lines = 0;
  for (const path of paths) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      const [car, ts, at] = line.split(' ');
      lines += 1;
      const key = `${car} ${ts}`;
      if (!acked.has(key)) acked.set(key, Number(at));
    }
  }
  return { acked, lines };
}

/**
 * Reads a topic from its start to the end offsets it had when called;
 * onMessage({ partition, offset, timestamp, value }).
 */
export async function readTopicMessages(brokers, topic, onMessage) {
  const kafka = new Kafka({ brokers, clientId: 'chaos-checker', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let ends;
  try {
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const remaining = new Map(ends.filter((p) => Number(p.high) > Number(p.low)).map((p) => [p.partition, Number(p.high)]));
  if (remaining.size === 0) return { partitions: ends.length };
  const consumer = kafka.consumer({ groupId: `chaos-checker-${Date.now()}-${Math.random().toString(36).slice(2)}`, maxBytes: 20 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve, reject) => {
    consumer
      .run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const end = remaining.get(batch.partition);
          if (end === undefined) return;
          for (const m of batch.messages) {
            if (Number(m.offset) >= end) break;
            onMessage({ partition: batch.partition, offset: Number(m.offset), timestamp: Number(m.timestamp), value: m.value });
          }
          if (Number(batch.lastOffset()) + 1 >= end) {
            remaining.delete(batch.partition);
            if (remaining.size === 0) resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return { partitions: ends.length };
}

/** readTopicMessages for readers of the value alone: onMessage(value, partition). */
export const readTopic = (brokers, topic, onMessage) => readTopicMessages(brokers, topic, (m) => onMessage(m.value, m.partition));

/** What the topic holds: telemetry keys, redeliveries, charging samples by stay, final meters. */
export async function scanTopic(brokers, topic) {
  const telemetry = new Map(); // "car ts" → times seen
  const samples = new Map(); // "session ms" → { meter, car }
  const finalMeter = new Map(); // session → max meter
  const stayOf = new Map(); // session → "car station plugged"
  let events = 0;
  let unparsable = 0;
  const types = {};
  const { partitions } = await readTopic(brokers, topic, (value) => {
    events += 1;
    if (value === null) return void (unparsable += 1);
    let e;
    try {
      e = JSON.parse(value.toString('utf8'));
    } catch {
      unparsable += 1;
      return;
    }
    if (e === null || typeof e !== 'object') return void (unparsable += 1);
    types[e.event_type] = (types[e.event_type] ?? 0) + 1;
    if (e.event_type !== 'telemetry') return;
    const key = `${e.car_id} ${e.timestamp}`;
    telemetry.set(key, (telemetry.get(key) ?? 0) + 1);
    // A charging sample as the pricing worker sees it; poison (fuzz runs put some on the topic) is the DLQ's.
    if (classify(e).kind === 'sample') {
      const session = sessionIdOf(e.car_id, e.station_id, e.plugged_in_at);
      samples.set(`${session} ${e.timestamp}`, { meter: e.charge_energy_kwh, car: e.car_id });
      finalMeter.set(session, Math.max(finalMeter.get(session) ?? 0, e.charge_energy_kwh));
      stayOf.set(session, `${e.car_id} ${e.station_id} ${e.plugged_in_at}`);
    }
  });
  let redelivered = 0;
  for (const n of telemetry.values()) redelivered += n - 1;
  return { partitions, events, unparsable, types, telemetry, redelivered, samples, finalMeter, stayOf };
}

export async function scanRows(dbUrl) {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT session_id, round(extract(epoch FROM time) * 1000)::bigint::text AS ms, car_id, kwh_usage FROM charging_sessions`,
    );
    return rows;
  } finally {
    await client.end();
  }
}

export async function scanSlots(redisUrl) {
  const redis = createClient({ url: redisUrl });
  redis.on('error', () => {});
  await redis.connect();
  try {
    const stations = await redis.zRange('stations:locations', 0, -1);
    const wrong = [];
    let slotsTotal = 0;
    for (const id of stations) {
      const [slots, free, booked, occupied] = await Promise.all([
        redis.hGet(`station:${id}:info`, 'slots'),
        redis.get(`station:${id}:capacity`),
        redis.sCard(`station:${id}:booked`),
        redis.sCard(`station:${id}:occupied`),
      ]);
      slotsTotal += Number(slots);
      const entry = { station: id, slots: Number(slots), free: Number(free), booked, occupied };
      if (!(entry.free >= 0 && entry.free + booked + occupied === entry.slots)) wrong.push(entry);
    }
    return { stations: stations.length, slotsTotal, wrong };
  } finally {
    await redis.quit().catch(() => {});
  }
}

/**
 * The longest stall of a flow around a fault: the largest gap between consecutive instants
 * (`times`, sorted) that starts between just before the fault and a little after it was undone
 * (at the latest just before the next fault).
 * Recovery = end of that gap − fault start when the gap is longer than `thresholdMs`; else 0
 * (the flow never stopped).
 */
export function recovery(times, fault, thresholdMs, nextFaultAt = Infinity) {
  // A gap is a fault's from 1 s before it (the flows are sampled, so the last instant before a
  // stall can precede the fault a little); the same second before the next fault is that one's.
  const from = fault.at - 1000;
  const until = Math.min((fault.restoredAt ?? fault.at) + 30_000, nextFaultAt - 1000);
  let best = { gapMs: 0, endsAt: undefined };
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  for (let i = Math.max(1, lo); i < times.length && times[i - 1] < until; i++) {
    const gap = times[i] - times[i - 1];
    if (times[i - 1] >= from && gap > best.gapMs) best = { gapMs: gap, endsAt: times[i] };
  }
  if (best.gapMs <= thresholdMs || best.endsAt === undefined) return { recoveryMs: 0, stallMs: best.gapMs };
  return { recoveryMs: Math.max(0, best.endsAt - fault.at), stallMs: best.gapMs };
}

/** Instants at which the row count grew, from the run's samples [{t, rows}] (rows null = database away). */
export function rowGrowthTimes(samples) {
  const times = [];
  let last = -1;
  for (const s of samples) {
    if (s.rows === null || s.rows === undefined) continue;
    if (last >= 0 && s.rows > last) times.push(s.t);
    last = Math.max(last, s.rows);
  }
  return times;
}

export async function check(run) {
  const { acked, lines } = readAckedLogs(run.ackedLogs);
  const topic = await scanTopic(run.brokers, run.topic);
  const rows = await scanRows(run.dbUrl);
  const slots = await scanSlots(run.redisUrl);
  const history = run.history ? await checkHistory(run) : undefined;
  const commands = run.commands ? await checkCommands(run) : undefined;

  // 1. acknowledged → on the topic
  const lost = [];
  for (const [key, at] of acked) if (!topic.telemetry.has(key)) lost.push({ key, at });

  // 2. samples ↔ rows, exactly once
  const rowCount = new Map();
  const sumBySession = new Map();
  let nanRows = 0;
  for (const r of rows) {
    const key = `${r.session_id} ${r.ms}`;
    rowCount.set(key, (rowCount.get(key) ?? 0) + 1);
    if (Number.isNaN(r.kwh_usage)) nanRows += 1;
    sumBySession.set(r.session_id, (sumBySession.get(r.session_id) ?? 0) + r.kwh_usage);
  }
  const duplicates = [...rowCount].filter(([, n]) => n > 1).map(([key, n]) => ({ key, n, ms: Number(key.split(' ')[1]) }));
  const missingRows = [...topic.samples.keys()].filter((key) => !rowCount.has(key));
  const unexplainedRows = [...rowCount.keys()].filter((key) => !topic.samples.has(key));

  // 3. energy per stay
  const energyWrong = [];
  for (const [session, meter] of topic.finalMeter) {
    const sum = sumBySession.get(session) ?? 0;
    if (!(Math.abs(sum - meter) <= 1e-6)) energyWrong.push({ session, stay: topic.stayOf.get(session), sumKwh: sum, finalMeterKwh: meter });
  }

  // per fault
  const ackTimes = [...acked.values()].sort((a, b) => a - b);
  const growth = rowGrowthTimes(run.rowSamples ?? []);
  const faults = (run.faults ?? []).map((fault, i, all) => {
    const windowEnd = all[i + 1]?.at ?? Infinity;
    const inWindow = (t) => t >= fault.at && t < windowEnd;
    const acks = recovery(ackTimes, fault, 1000, windowEnd);
    const rowsFlow = recovery(growth, fault, 2000, windowEnd);
    return {
      fault: fault.name,
      at: new Date(fault.at).toISOString(),
      acknowledged: ackTimes.filter(inWindow).length,
      lost: lost.filter((l) => inWindow(l.at)).length,
      duplicatedRows: duplicates.filter((d) => inWindow(d.ms)).length,
      recoveryMs: Math.max(acks.recoveryMs, rowsFlow.recoveryMs),
      ackRecoveryMs: acks.recoveryMs,
      ackStallMs: acks.stallMs,
      rowRecoveryMs: rowsFlow.recoveryMs,
      rowStallMs: rowsFlow.stallMs,
    };
  });

  const totals = {
    ackedLines: lines,
    acknowledged: acked.size,
    lost: lost.length,
    topicPartitions: topic.partitions,
    topicEvents: topic.events,
    topicEventTypes: topic.types,
    telemetryOnTopic: topic.telemetry.size,
    redeliveredOnTopic: topic.redelivered,
    unparsableOnTopic: topic.unparsable,
    chargingSamples: topic.samples.size,
    stays: topic.finalMeter.size,
    rows: rows.length,
    duplicatedRows: duplicates.length,
    missingRows: missingRows.length,
    unexplainedRows: unexplainedRows.length,
    nanRows,
    energyViolations: energyWrong.length,
    stations: slots.stations,
    slots: slots.slotsTotal,
    slotViolations: slots.wrong.length,
  };
  // Cars with no acked log (the cluster run's load cars): how many distinct CarStatus of theirs are on the topic.
  if (run.telemetryPrefixes) {
    totals.telemetryByPrefix = Object.fromEntries(run.telemetryPrefixes.map((p) => [p, 0]));
    for (const key of topic.telemetry.keys()) for (const p of run.telemetryPrefixes) if (key.startsWith(p)) totals.telemetryByPrefix[p] += 1;
  }
  const ok =
    totals.acknowledged > 0 &&
    totals.lost === 0 &&
    totals.duplicatedRows === 0 &&
    totals.missingRows === 0 &&
    totals.unexplainedRows === 0 &&
    totals.nanRows === 0 &&
    totals.energyViolations === 0 &&
    totals.slotViolations === 0 &&
    totals.stations > 0 &&
    (history?.ok ?? true) &&
    (commands?.ok ?? true);
  return {
    ok,
    totals,
    faults,
    ...(history ? { history } : {}),
    ...(commands ? { commands } : {}),
    examples: { lost: lost.slice(0, 5), missingRows: missingRows.slice(0, 5), unexplainedRows: unexplainedRows.slice(0, 5), duplicates: duplicates.slice(0, 5), energy: energyWrong.slice(0, 5), slots: slots.wrong.slice(0, 5) },
  };
}
