/**
 * One batch of telemetry rows into car_telemetry, as one INSERT from column arrays:
 *
 * - idempotent: ON CONFLICT (car_id, time, event_id) DO NOTHING, and the batch's own duplicates
 *   dropped first (DISTINCT ON event_id), so a replay or a duplicate on the topic adds no row;
 * - each row's `interval_s` and `distance_km` (time and great-circle distance from the car's
 *   previous sample) are computed in the same statement: the previous sample is the one before it
 *   in the batch, or for a car's first row of the batch the newest stored row before it within 5
 *   minutes. A gap of more than 5 minutes (a car offline, a first sample) counts 0, not a jump
 *   across the map. A late sample (older than rows already stored) gets its predecessor's gap;
 *   the row stored after it keeps the gap it was written with, so around a late sample the sums
 *   count one stretch of road twice at most. Replayed rows compute the values they were stored
 *   with and insert nothing.
 *
 * A value the database refuses for what it is (22xxx, 23xxx, 54000) would fail the batch on every
 * retry and stop its partition: the batch is then written in halves down to the refused rows,
 * which are reported and skipped.
 */
import type pg from 'pg';
import { sliceRows, type TelemetryRows } from './decode.js';

export const GAP_LIMIT_S = 300;

const INSERT = `
WITH input AS (
  SELECT DISTINCT ON (u.event_id) u.*, to_timestamp(u.ms / 1000.0) AS t
  FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[],
              $8::text[], $9::bool[], $10::float8[], $11::float8[], $12::bool[])
    AS u(event_id, car_id, ms, lat, lon, battery, velocity, station_id, charging, energy, plugged_ms, late)
  ORDER BY u.event_id
),
firsts AS (SELECT car_id, min(t) AS t0 FROM input GROUP BY car_id),
prior AS (
  SELECT f.car_id, p.time AS pt, p.lat AS plat, p.lon AS plon
  FROM firsts f
  JOIN LATERAL (
    SELECT c.time, c.lat, c.lon FROM car_telemetry c
    WHERE c.car_id = f.car_id AND c.time < f.t0 AND c.time >= f.t0 - INTERVAL '${GAP_LIMIT_S} seconds'
    ORDER BY c.time DESC LIMIT 1
  ) p ON true
),
chain AS (
  SELECT i.*,
         coalesce(lag(i.t) OVER w, p.pt) AS pt,
         coalesce(lag(i.lat) OVER w, p.plat) AS plat,
         coalesce(lag(i.lon) OVER w, p.plon) AS plon
  FROM input i LEFT JOIN prior p USING (car_id)
  WINDOW w AS (PARTITION BY i.car_id ORDER BY i.t, i.event_id)
),
gaps AS (
  SELECT c.*, (c.pt IS NOT NULL AND c.t - c.pt <= INTERVAL '${GAP_LIMIT_S} seconds') AS near FROM chain c
)
INSERT INTO car_telemetry (time, car_id, event_id, lat, lon, battery, velocity, station_id, charging,
                           charge_energy_kwh, plugged_in_at, late, interval_s, distance_km)
SELECT t, car_id, event_id, lat, lon, battery, velocity, station_id, charging, energy,
       to_timestamp(plugged_ms / 1000.0), late,
       CASE WHEN near THEN extract(epoch FROM t - pt)::float8 ELSE 0 END,
       CASE WHEN near THEN 2 * 6371.0088 * asin(least(1, sqrt(
              power(sin(radians(lat - plat) / 2), 2) + cos(radians(plat)) * cos(radians(lat)) * power(sin(radians(lon - plon) / 2), 2))))
            ELSE 0 END
FROM gaps
ON CONFLICT (car_id, time, event_id) DO NOTHING`;

function params(rows: TelemetryRows): unknown[] {
  return [rows.eventId, rows.carId, rows.timeMs, rows.lat, rows.lon, rows.battery, rows.velocity, rows.stationId, rows.charging, rows.energyKwh, rows.pluggedInMs, rows.late];
}

/** Inserts the rows; resolves with how many were new. */
export async function insertRows(client: pg.ClientBase, rows: TelemetryRows): Promise<number> {
  if (rows.count === 0) return 0;
  const result = await client.query(INSERT, params(rows));
  return result.rowCount ?? 0;
}

/** SQLSTATE classes of a refusal of the data itself (22 data exception, 23 integrity, 54000 too large). */
export function refusesData(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23') || code === '54000');
}

export interface WriteOutcome {
  inserted: number;
  /** Rows the database refused (index within `rows`), with its reason. */
  refused: Array<{ row: number; reason: string }>;
}

/** Writes the rows; on a refusal of the data, each half again, down to the refused rows. */
export async function writeIsolating(withDb: <T>(fn: (c: pg.ClientBase) => Promise<T>) => Promise<T>, rows: TelemetryRows, offset = 0): Promise<WriteOutcome> {
  try {
    return { inserted: await withDb((client) => insertRows(client, rows)), refused: [] };
  } catch (error) {
    if (!refusesData(error)) throw error;
    if (rows.count === 1) return { inserted: 0, refused: [{ row: offset, reason: `the database refused it: ${(error as Error).message}` }] };
    const half = rows.count >> 1;
    const a = await writeIsolating(withDb, sliceRows(rows, 0, half), offset);
    const b = await writeIsolating(withDb, sliceRows(rows, half, rows.count), offset + half);
    return { inserted: a.inserted + b.inserted, refused: [...a.refused, ...b.refused] };
  }
}
