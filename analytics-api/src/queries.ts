/**
 * The endpoints' SQL. Every value is a bound parameter ($n); the only text put into a statement is
 * chosen here (a metric's expression from METRICS, one of two fixed WHERE clauses), never taken
 * from a request. Each query is bounded: a range checked in params.ts, LIMIT maxRows + 1 (the
 * extra row says the answer was cut), a planner estimate checked before it runs (guard.ts) and,
 * on PostgreSQL, a statement timeout.
 */
import { MOVING_KMH } from '@greenlane/common';
import type { Metric, Range } from './params.js';

export interface Query {
  name: string;
  text: string;
  values: unknown[];
}

/** Moving samples more than this apart are two trips (a stop, parking, a gap in reporting). */
export const TRIP_STOP_S = 180;
/**
 * Below this speed a sample is standing still. Written into the trips query as a constant, the
 * predicate of plain PostgreSQL's partial index of moving samples (common/src/db/rollups.ts).
 */
export { MOVING_KMH };

export function seriesQuery(car: string, metric: Metric, bucketSeconds: number, range: Range, maxPoints: number): Query {
  const gauge = metric.gauge === null ? 'NULL::float8 AS min, NULL::float8 AS max' : `min(${metric.gauge}) AS min, max(${metric.gauge}) AS max`;
  return {
    name: 'series',
    text: `SELECT date_bin(make_interval(secs => $2), time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS time,
                  count(*)::int AS samples, ${metric.value} AS value, ${gauge}
           FROM car_telemetry
           WHERE car_id = $1 AND time >= $3 AND time < $4
           GROUP BY 1 ORDER BY 1 LIMIT $5`,
    values: [car, bucketSeconds, range.from, range.to, maxPoints + 1],
  };
}

const HOUR_MS = 3_600_000;

/**
 * The whole hours of a range, [first, last), for a rollup of hourly rows; the rest of the range (at
 * most an hour at each end) is read from the raw rows. Undefined when the range holds no whole hour.
 */
export function wholeHours(range: Range): { first: Date; last: Date } | undefined {
  const first = Math.ceil(range.from.getTime() / HOUR_MS) * HOUR_MS;
  const last = Math.floor(range.to.getTime() / HOUR_MS) * HOUR_MS;
  return first < last ? { first: new Date(first), last: new Date(last) } : undefined;
}

/**
 * A series from car_telemetry_hourly (plain PostgreSQL's rollup) when its buckets are whole hours
 * (date_bin's buckets of n hours from the same origin are unions of its hours) and the range holds
 * one: the rollup's hours of the range, plus the raw rows of the partial hours at its ends, each
 * part as per-bucket (samples, sum, min, max), then one row per bucket. Averages are Σ sum ÷
 * Σ samples, weighted by samples. Undefined when the raw query is the one (seriesQuery).
 */
export function seriesRollupQuery(car: string, metric: Metric, bucketSeconds: number, range: Range, maxPoints: number): Query | undefined {
  const hours = wholeHours(range);
  if (bucketSeconds % 3600 !== 0 || hours === undefined) return undefined;
  const r = metric.rollup;
  const bin = (column: string) => `date_bin(make_interval(secs => $2), ${column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')`;
  const rawGauge = metric.gauge === null ? 'NULL::float8, NULL::float8' : `min(${metric.gauge}), max(${metric.gauge})`;
  const rolledGauge = r.min === null || r.max === null ? 'NULL::float8, NULL::float8' : `min(${r.min}), max(${r.max})`;
  const raw = (from: string, to: string) =>
    `SELECT ${bin('time')}, count(*)::bigint, sum(${r.raw}), ${rawGauge} FROM car_telemetry WHERE car_id = $1 AND time >= ${from} AND time < ${to} GROUP BY 1`;
  return {
    name: 'series',
    text: `WITH parts (bucket, n, s, lo, hi) AS (
             ${raw('$3', '$6')}
             UNION ALL
             SELECT ${bin('hour')}, sum(samples)::bigint, sum(${r.sum}), ${rolledGauge}
             FROM car_telemetry_hourly WHERE car_id = $1 AND hour >= $6 AND hour < $7 GROUP BY 1
             UNION ALL
             ${raw('$7', '$4')}
           )
           SELECT bucket AS time, sum(n)::int AS samples, ${r.average ? 'sum(s) / sum(n)::float8' : 'sum(s)'} AS value, min(lo) AS min, max(hi) AS max
           FROM parts GROUP BY bucket ORDER BY bucket LIMIT $5`,
    values: [car, bucketSeconds, range.from, range.to, maxPoints + 1, hours.first, hours.last],
  };
}

export function tripsQuery(car: string, range: Range, maxRows: number): Query {
  return {
    name: 'trips',
    text: `WITH moving AS (
             SELECT time, velocity, battery, distance_km,
                    CASE WHEN time - lag(time) OVER (ORDER BY time) <= make_interval(secs => $4) THEN 0 ELSE 1 END AS starts
             FROM car_telemetry
             WHERE car_id = $1 AND time >= $2 AND time < $3 AND velocity >= ${MOVING_KMH}
           ),
           numbered AS (SELECT *, sum(starts) OVER (ORDER BY time) AS trip FROM moving)
           SELECT min(time) AS started, max(time) AS ended,
                  extract(epoch FROM max(time) - min(time))::float8 AS duration_s,
                  count(*)::int AS samples,
                  sum(distance_km) AS distance_km,
                  avg(velocity) AS avg_speed_kmh, max(velocity) AS max_speed_kmh,
                  (array_agg(battery ORDER BY time))[1] AS start_battery,
                  (array_agg(battery ORDER BY time DESC))[1] AS end_battery
           FROM numbered GROUP BY trip ORDER BY started LIMIT $5`,
    values: [car, range.from, range.to, TRIP_STOP_S, maxRows + 1],
  };
}

export function staysQuery(car: string, range: Range, maxRows: number): Query {
  return {
    name: 'stays',
    text: `SELECT session_id, station_id, min(time) AS started, max(time) AS ended, count(*)::int AS samples,
                  sum(kwh_usage) AS kwh, sum(kwh_usage * price_rate) AS cost,
                  sum(kwh_usage * price_rate) / nullif(sum(kwh_usage), 0) AS avg_price_per_kwh
           FROM charging_sessions
           WHERE car_id = $1 AND time >= $2 AND time < $3
           GROUP BY session_id, station_id ORDER BY started LIMIT $4`,
    values: [car, range.from, range.to, maxRows + 1],
  };
}

export function stationsQuery(range: Range, station: string | undefined, maxRows: number): Query {
  const where = station === undefined ? 'time >= $1 AND time < $2' : 'time >= $1 AND time < $2 AND station_id = $5';
  return {
    name: 'stations',
    text: `WITH stays AS (
             SELECT station_id, session_id, car_id, count(*) AS samples, sum(kwh_usage) AS kwh,
                    sum(kwh_usage * price_rate) AS cost, extract(epoch FROM max(time) - min(time)) AS charging_s
             FROM charging_sessions WHERE ${where}
             GROUP BY station_id, session_id, car_id
           )
           SELECT station_id, count(*)::int AS stays, count(DISTINCT car_id)::int AS cars, sum(samples)::int AS samples,
                  sum(kwh) AS kwh, sum(cost) AS cost, sum(charging_s)::float8 / 3600 AS charging_hours,
                  sum(charging_s)::float8 / $3 AS avg_cars_charging
           FROM stays GROUP BY station_id ORDER BY station_id LIMIT $4`,
    values: station === undefined ? [range.from, range.to, range.seconds, maxRows + 1] : [range.from, range.to, range.seconds, maxRows + 1, station],
  };
}

/**
 * Station utilization from charging_stays (plain PostgreSQL's rollup, one row per stay): a stay
 * wholly inside the range is its row; a stay that crosses an end of the range is computed from
 * its raw samples inside the range (what stationsQuery computes for every stay; an index lookup
 * by session and time), so the figures are the same.
 */
export function stationsRollupQuery(range: Range, station: string | undefined, maxRows: number): Query {
  const atStation = station === undefined ? '' : ' AND t.station_id = $5';
  return {
    name: 'stations',
    text: `WITH stays AS (
             SELECT t.station_id, t.car_id, t.samples, t.kwh, t.cost, extract(epoch FROM t.ended - t.started) AS charging_s
             FROM charging_stays t
             WHERE t.started >= $1 AND t.ended < $2${atStation}
             UNION ALL
             SELECT t.station_id, t.car_id, e.samples, e.kwh, e.cost, e.charging_s
             FROM charging_stays t
             CROSS JOIN LATERAL (
               SELECT count(*) AS samples, sum(c.kwh_usage) AS kwh, sum(c.kwh_usage * c.price_rate) AS cost,
                      extract(epoch FROM max(c.time) - min(c.time)) AS charging_s
               FROM charging_sessions c
               WHERE c.session_id = t.session_id AND c.time >= $1 AND c.time < $2 AND c.station_id = t.station_id AND c.car_id = t.car_id
             ) e
             WHERE t.ended >= $1 AND t.started < $2 AND (t.started < $1 OR t.ended >= $2)${atStation} AND e.samples > 0
           ),
           -- Per station and car first (hashed), so the cars are counted without sorting every stay.
           by_car AS (
             SELECT station_id, car_id, count(*) AS stays, sum(samples) AS samples, sum(kwh) AS kwh, sum(cost) AS cost, sum(charging_s) AS charging_s
             FROM stays GROUP BY station_id, car_id
           )
           SELECT station_id, sum(stays)::int AS stays, count(*)::int AS cars, sum(samples)::int AS samples,
                  sum(kwh) AS kwh, sum(cost) AS cost, sum(charging_s)::float8 / 3600 AS charging_hours,
                  sum(charging_s)::float8 / $3 AS avg_cars_charging
           FROM by_car GROUP BY station_id ORDER BY station_id LIMIT $4`,
    values: station === undefined ? [range.from, range.to, range.seconds, maxRows + 1] : [range.from, range.to, range.seconds, maxRows + 1, station],
  };
}

export function fleetQuery(range: Range, maxRows: number): Query {
  return {
    name: 'fleet',
    text: `SELECT hour, car_minutes::int AS car_minutes, car_minutes::float8 / 60 AS avg_cars_reporting, samples::bigint AS samples,
                  distance_km, avg_speed_kmh, max_speed_kmh, min_battery, charging_s::float8 / 3600 AS charging_hours
           FROM fleet_telemetry_1h
           WHERE hour >= $1 AND hour < $2
           ORDER BY hour LIMIT $3`,
    values: [range.from, range.to, maxRows + 1],
  };
}
