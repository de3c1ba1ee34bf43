/**
 * Writes one batch of rows into charging_sessions in one transaction, idempotently, with
 * kwh_usage = this sample's meter − the previous sample's meter in the same stay (0 before the
 * first), so for every stay Σ kwh_usage telescopes to the latest meter reading, exactly, whatever
 * the batching, restarts, replays, duplicates or instances:
 *
 * 1. `pg_advisory_xact_lock(topic, partition)`: a stay's samples share the car key, hence one
 *    partition; two instances that both hold a partition during a rebalance write it one after the
 *    other, so each sees what the other committed.
 * 2. Per stay of the batch, the latest stored row (one probe of the (session_id, time) index).
 * 3. The normal case, every sample newer than its stay's stored tail (new data): kwh_usage is
 *    computed here (meter − previous meter in the stay, the stored tail's for the first) and the
 *    rows go in as one plain INSERT from column arrays, the stays' text sent once per stay. This is
 *    the fast path the backlog bench measures (bench/drain.mjs).
 * 4. Otherwise (a replay, or a late sample): one INSERT that does it all in the database.
 *    Samples after the stored tail get meter − previous meter (LAG within the batch; the stored
 *    row's meter for the first). Samples at or before it are replays (ON CONFLICT (session_id,
 *    time) DO NOTHING skips them) or, rarely, late samples that were never stored: those are
 *    inserted with kwh_usage NaN and their stays are recomputed from the stored meters (LAG over
 *    the stay), updating the rows whose value changes (the late rows and their successors).
 *    A fast-path INSERT that still meets a stored row (two samples the same after the database's
 *    microsecond rounding, a stay split over partitions) fails as a whole and the batch is written
 *    again this way.
 */
import type pg from 'pg';
import type { RowColumns } from './rows.js';

/** The stored tail of each stay named in $1 (1-based `stay` = position in $1); stays with no row are absent. */
const LATEST = `
SELECT s.n::int AS stay, (extract(epoch FROM l.time) * 1000)::float8 AS ms, l.meter_kwh AS meter
FROM unnest($1::text[]) WITH ORDINALITY AS s(session_id, n)
JOIN LATERAL (
  SELECT c.time, c.meter_kwh FROM charging_sessions c
  WHERE c.session_id = s.session_id ORDER BY c.time DESC LIMIT 1
) l ON true`;

/** New rows whose kwh_usage is known: per-row numbers, and each stay's text once. */
const INSERT_NEW = `
INSERT INTO charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate, meter_kwh)
SELECT to_timestamp(r.ms / 1000.0), s.session_id, s.station_id, s.car_id, r.kwh, r.price_rate, r.meter_kwh
FROM unnest($1::float8[], $2::int4[], $3::float8[], $4::float8[], $5::float8[]) AS r(ms, stay, kwh, price_rate, meter_kwh)
JOIN unnest($6::text[], $7::text[], $8::text[]) WITH ORDINALITY AS s(session_id, station_id, car_id, n) ON s.n = r.stay`;

const INSERT_ANY = `
WITH input AS (
  SELECT DISTINCT ON (session_id, t) t, session_id, station_id, car_id, meter_kwh, price_rate
  FROM (
    SELECT to_timestamp(ms / 1000.0) AS t, session_id, station_id, car_id, meter_kwh, price_rate
    FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[])
      AS u(ms, session_id, station_id, car_id, meter_kwh, price_rate)
  ) u
  ORDER BY session_id, t
),
latest AS (
  SELECT s.session_id, l.time AS last_time, l.meter_kwh AS last_meter
  FROM (SELECT DISTINCT session_id FROM input) s
  LEFT JOIN LATERAL (
    SELECT c.time, c.meter_kwh FROM charging_sessions c
    WHERE c.session_id = s.session_id ORDER BY c.time DESC LIMIT 1
  ) l ON true
),
rows AS (
  SELECT i.t, i.session_id, i.station_id, i.car_id, i.price_rate, i.meter_kwh,
         i.meter_kwh - coalesce(lag(i.meter_kwh) OVER (PARTITION BY i.session_id ORDER BY i.t), l.last_meter, 0) AS kwh
  FROM input i JOIN latest l USING (session_id)
  WHERE l.last_time IS NULL OR i.t > l.last_time
  UNION ALL
  SELECT i.t, i.session_id, i.station_id, i.car_id, i.price_rate, i.meter_kwh, 'NaN'::float8
  FROM input i JOIN latest l USING (session_id)
  WHERE i.t <= l.last_time
),
inserted AS (
  INSERT INTO charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate, meter_kwh)
  SELECT t, session_id, station_id, car_id, kwh, price_rate, meter_kwh FROM rows
  ON CONFLICT (session_id, time) DO NOTHING
  RETURNING session_id, kwh_usage
)
SELECT count(*)::int AS inserted,
       coalesce(array_agg(DISTINCT session_id) FILTER (WHERE kwh_usage = 'NaN'::float8), '{}') AS late_sessions
FROM inserted`;

const RECOMPUTE = `
WITH recomputed AS (
  SELECT c.session_id, c.time,
         c.meter_kwh - coalesce(lag(c.meter_kwh) OVER (PARTITION BY c.session_id ORDER BY c.time), 0) AS kwh
  FROM charging_sessions c
  WHERE c.session_id = ANY($1::text[])
)
UPDATE charging_sessions c SET kwh_usage = r.kwh
FROM recomputed r
WHERE c.session_id = r.session_id AND c.time = r.time AND c.kwh_usage IS DISTINCT FROM r.kwh`;

export interface WriteResult {
  inserted: number;
  /** Stays that got a sample older than their latest stored one and were recomputed. */
  recomputedSessions: number;
  /** Rows whose kwh_usage the recompute changed. */
  updated: number;
}

/** A 32-bit key for the topic, for pg_advisory_xact_lock(int, int). FNV-1a. */
export function topicLockKey(topic: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) {
    h ^= topic.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** The batch's stays, each once, and every row's stay. */
interface Stays {
  sessionId: string[];
  stationId: string[];
  carId: string[];
  /** Per row, the 0-based index of its stay. */
  of: Int32Array;
}

function staysOf(rows: RowColumns): Stays {
  const index = new Map<string, number>();
  const stays: Stays = { sessionId: [], stationId: [], carId: [], of: new Int32Array(rows.count) };
  for (let i = 0; i < rows.count; i++) {
    const session = rows.sessionId[i]!;
    let k = index.get(session);
    if (k === undefined) {
      k = stays.sessionId.length;
      index.set(session, k);
      stays.sessionId.push(session);
      stays.stationId.push(rows.stationId[i]!);
      stays.carId.push(rows.carId[i]!);
    }
    stays.of[i] = k;
  }
  return stays;
}

const OID = { float8: 701, int4: 23 } as const;

/**
 * A float8[]/int4[] parameter in PostgreSQL's binary array format (pg sends a Buffer as a binary
 * parameter): no number printing here, no number parsing in the server, exact values.
 */
export function binaryArray(values: ArrayLike<number>, type: keyof typeof OID): Buffer {
  const width = type === 'float8' ? 8 : 4;
  const n = values.length;
  const buf = Buffer.allocUnsafe(n === 0 ? 12 : 20 + n * (4 + width));
  buf.writeInt32BE(n === 0 ? 0 : 1, 0); // dimensions
  buf.writeInt32BE(0, 4); // no nulls
  buf.writeInt32BE(OID[type], 8);
  if (n === 0) return buf;
  buf.writeInt32BE(n, 12);
  buf.writeInt32BE(1, 16); // lower bound
  let at = 20;
  for (let i = 0; i < n; i++) {
    buf.writeInt32BE(width, at);
    if (width === 8) buf.writeDoubleBE(values[i]!, at + 4);
    else buf.writeInt32BE(values[i]!, at + 4);
    at += 4 + width;
  }
  return buf;
}

/**
 * The fast path (3.): undefined, writing nothing, when a sample is at or before its stay's stored
 * tail; otherwise inserts the new rows and returns how many.
 */
async function insertNewRows(client: pg.ClientBase, rows: RowColumns, stays: Stays): Promise<number | undefined> {
  const tailMs = new Float64Array(stays.sessionId.length).fill(-Infinity);
  const tailMeter = new Float64Array(stays.sessionId.length);
  const { rows: tails } = await client.query<{ stay: number; ms: number; meter: number | null }>(LATEST, [stays.sessionId]);
  for (const t of tails) {
    tailMs[t.stay - 1] = t.ms;
    tailMeter[t.stay - 1] = t.meter ?? 0;
  }

  // Rows by stay, then time: each sample follows the previous one of its stay.
  const { timeMs, meterKwh, priceRate } = rows;
  const order = Array.from({ length: rows.count }, (_, i) => i).sort((a, b) => stays.of[a]! - stays.of[b]! || timeMs[a]! - timeMs[b]!);
  const ms: number[] = [];
  const stay: number[] = [];
  const kwh: number[] = [];
  const price: number[] = [];
  const meter: number[] = [];
  let previousStay = -1;
  let previousMs = 0;
  let previousMeter = 0;
  for (const i of order) {
    const k = stays.of[i]!;
    const t = timeMs[i]!;
    if (!(t > tailMs[k]!)) return undefined;
    if (k !== previousStay) {
      previousStay = k;
      previousMeter = tailMeter[k]!;
    } else if (t === previousMs) {
      continue; // the same sample twice in the batch: one row
    }
    ms.push(t);
    stay.push(k + 1);
    kwh.push(meterKwh[i]! - previousMeter);
    price.push(priceRate[i]!);
    meter.push(meterKwh[i]!);
    previousMs = t;
    previousMeter = meterKwh[i]!;
  }
  const result = await client.query(INSERT_NEW, [
    binaryArray(ms, 'float8'), binaryArray(stay, 'int4'), binaryArray(kwh, 'float8'), binaryArray(price, 'float8'), binaryArray(meter, 'float8'),
    stays.sessionId, stays.stationId, stays.carId,
  ]);
  return result.rowCount ?? 0;
}

/** The general path (4.): replays, duplicates and late samples. */
async function insertAnyRows(client: pg.ClientBase, rows: RowColumns): Promise<WriteResult> {
  // Unnamed statement on purpose: the embedded database is one backend shared by every
  // connection, where a named statement would outlive its connection and clash with the next.
  const { rows: result } = await client.query<{ inserted: number; late_sessions: string[] }>(INSERT_ANY, [
    rows.timeMs, rows.sessionId, rows.stationId, rows.carId, rows.meterKwh, rows.priceRate,
  ]);
  const inserted = result[0]?.inserted ?? 0;
  const late = result[0]?.late_sessions ?? [];
  let updated = 0;
  if (late.length > 0) updated = (await client.query(RECOMPUTE, [late])).rowCount ?? 0;
  return { inserted, recomputedSessions: late.length, updated };
}

async function inTransaction(client: pg.ClientBase, lock: { topic: string; partition: number }, write: () => Promise<WriteResult>): Promise<WriteResult> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [topicLockKey(lock.topic), lock.partition]);
    const result = await write();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Runs on a client the caller has checked out; commits or rolls back. */
export async function writeRows(client: pg.ClientBase, rows: RowColumns, lock: { topic: string; partition: number }): Promise<WriteResult> {
  if (rows.count === 0) return { inserted: 0, recomputedSessions: 0, updated: 0 };
  const stays = staysOf(rows);
  try {
    return await inTransaction(client, lock, async () => {
      const inserted = await insertNewRows(client, rows, stays);
      return inserted === undefined ? insertAnyRows(client, rows) : { inserted, recomputedSessions: 0, updated: 0 };
    });
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error;
    return inTransaction(client, lock, () => insertAnyRows(client, rows));
  }
}
