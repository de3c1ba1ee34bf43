/**
 * Writes one batch of rows into charging_sessions in one transaction, idempotently, with
 * kwh_usage = this sample's meter − the previous sample's meter in the same stay (0 before the
 * first), so for every stay Σ kwh_usage telescopes to the latest meter reading, exactly, whatever
 * the batching, restarts, replays, duplicates or instances:
 *
 * 1. `pg_advisory_xact_lock(topic, partition)`: a stay's samples share the car key, hence one
 *    partition; two instances that both hold a partition during a rebalance write it one after the
 *    other, so each sees what the other committed.
 * 2. One INSERT from column arrays. Per stay it looks up the latest stored row (one probe of the
 *    (session_id, time) index). Samples after it (the normal case: new data, in order) get
 *    meter − previous meter (LAG within the batch; the stored row's meter for the first).
 *    Samples at or before it are replays (ON CONFLICT (session_id, time) DO NOTHING skips them)
 *    or, rarely, late samples that were never stored: those are inserted with kwh_usage NaN and
 *    their stays are recomputed by step 3.
 * 3. Only for stays that got a late sample: recompute kwh_usage of all their rows from the stored
 *    meters (LAG over the stay), updating the rows whose value changes (the late rows and their
 *    successors).
 */
import type pg from 'pg';
import type { RowColumns } from './rows.js';

const INSERT = `
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

/** Runs on a client the caller has checked out; commits or rolls back. */
export async function writeRows(client: pg.ClientBase, rows: RowColumns, lock: { topic: string; partition: number }): Promise<WriteResult> {
  if (rows.count === 0) return { inserted: 0, recomputedSessions: 0, updated: 0 };
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [topicLockKey(lock.topic), lock.partition]);
    // Unnamed statement on purpose: the embedded database is one backend shared by every
    // connection, where a named statement would outlive its connection and clash with the next.
    const { rows: result } = await client.query<{ inserted: number; late_sessions: string[] }>(INSERT, [
      rows.timeMs, rows.sessionId, rows.stationId, rows.carId, rows.meterKwh, rows.priceRate,
    ]);
    const inserted = result[0]?.inserted ?? 0;
    const late = result[0]?.late_sessions ?? [];
    let updated = 0;
    if (late.length > 0) updated = (await client.query(RECOMPUTE, [late])).rowCount ?? 0;
    await client.query('COMMIT');
    return { inserted, recomputedSessions: late.length, updated };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
