/**
 * The endpoints' SQL. Every value is a bound parameter ($n); the only text put into a statement is
 * chosen here (a metric's expression from METRICS, one of two fixed WHERE clauses), never taken
 * from a request. Each query is bounded: a range checked in params.ts, LIMIT maxRows + 1 (the
 * extra row says the answer was cut), a planner estimate checked before it runs (guard.ts) and,
 * on PostgreSQL, a statement timeout.
 */
import type { Metric, Range } from './params.js';

export interface Query {
  name: string;
  text: string;
  values: unknown[];
}

/** Moving samples more than this apart are two trips (a stop, parking, a gap in reporting). */
export const TRIP_STOP_S = 180;
/** Below this speed a sample is standing still. */
export const MOVING_KMH = 1;

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

export function tripsQuery(car: string, range: Range, maxRows: number): Query {
  return {
    name: 'trips',
    text: `WITH moving AS (
             SELECT time, velocity, battery, distance_km,
                    CASE WHEN time - lag(time) OVER (ORDER BY time) <= make_interval(secs => $4) THEN 0 ELSE 1 END AS starts
             FROM car_telemetry
             WHERE car_id = $1 AND time >= $2 AND time < $3 AND velocity >= $5
           ),
           numbered AS (SELECT *, sum(starts) OVER (ORDER BY time) AS trip FROM moving)
           SELECT min(time) AS started, max(time) AS ended,
                  extract(epoch FROM max(time) - min(time))::float8 AS duration_s,
                  count(*)::int AS samples,
                  sum(distance_km) AS distance_km,
                  avg(velocity) AS avg_speed_kmh, max(velocity) AS max_speed_kmh,
                  (array_agg(battery ORDER BY time))[1] AS start_battery,
                  (array_agg(battery ORDER BY time DESC))[1] AS end_battery
           FROM numbered GROUP BY trip ORDER BY started LIMIT $6`,
    values: [car, range.from, range.to, TRIP_STOP_S, MOVING_KMH, maxRows + 1],
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
