/**
 * Refuses a query that would scan too much before it runs. Each endpoint's query reads its table
 * by a key and a time range (queries.ts); the rows that key and range select are what it reads,
 * and the planner estimates them from its statistics: EXPLAIN (which plans without executing) of
 * the bare scan, `SELECT 1 FROM table WHERE key AND range`. (The endpoint's own plan does not
 * say it: a scan node's estimate counts the rows its filters keep, not the rows it reads.)
 *
 * On PostgreSQL without TimescaleDB the rollups (common/src/db/rollups.ts) are what is read, so
 * they are what is estimated: a whole-hour series, the car's hourly rows of the range and its raw
 * samples in the partial hours at the ends; trips, the car's moving samples (their own index); station utilization, the stays of the range (and the
 * samples inside the range of the few that cross its ends, not estimated); the fleet summary,
 * fleet_telemetry_hourly's hours of the range (the view fleet_telemetry_1h reads it there).
 *
 * On TimescaleDB the fleet summary reads a real-time continuous aggregate: its materialized hours are
 * cheap, and only what its refreshes have not reached yet is computed from below: the minute
 * aggregate's materialized rows after the hour aggregate's watermark, and the raw samples after
 * the minute aggregate's. Never refreshed, that is every sample of the range, as on PostgreSQL.
 */
import type pg from 'pg';
import type { Range } from './params.js';
import { MOVING_KMH, wholeHours, type Query } from './queries.js';

/** Rows the planner expects a probe to return. */
async function planRows(client: pg.ClientBase, probe: Query): Promise<number> {
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(`EXPLAIN (FORMAT JSON) ${probe.text}`, probe.values);
  return rows[0]?.['QUERY PLAN']?.[0]?.Plan['Plan Rows'] ?? 0;
}

export async function estimateRows(client: pg.ClientBase, probes: Query[]): Promise<number> {
  let total = 0;
  for (const probe of probes) total += await planRows(client, probe);
  return Math.round(total);
}

export const rangeProbe = (table: 'car_telemetry' | 'charging_sessions', range: Range, key?: { column: 'car_id' | 'station_id'; value: string }): Query => ({
  name: 'probe',
  text: key === undefined
    ? `SELECT 1 FROM ${table} WHERE time >= $1 AND time < $2`
    : `SELECT 1 FROM ${table} WHERE ${key.column} = $3 AND time >= $1 AND time < $2`,
  values: key === undefined ? [range.from, range.to] : [range.from, range.to, key.value],
});

/** A whole-hour series over the rollup (seriesRollupQuery): the raw samples of the partial hours and the hourly rows. */
export function seriesRollupProbes(range: Range, car: string): Query[] {
  const hours = wholeHours(range)!;
  const key = { column: 'car_id', value: car } as const;
  return [
    rangeProbe('car_telemetry', { ...range, to: hours.first }, key),
    { name: 'probe', text: 'SELECT 1 FROM car_telemetry_hourly WHERE car_id = $3 AND hour >= $1 AND hour < $2', values: [hours.first, hours.last, car] },
    rangeProbe('car_telemetry', { ...range, from: hours.last }, key),
  ];
}

/** Trips on plain PostgreSQL: the car's moving samples of the range (an index of its own, common/src/db/rollups.ts). */
export const movingProbe = (range: Range, car: string): Query => ({
  name: 'probe',
  text: `SELECT 1 FROM car_telemetry WHERE car_id = $3 AND time >= $1 AND time < $2 AND velocity >= ${MOVING_KMH}`,
  values: [range.from, range.to, car],
});

/** Station utilization over charging_stays (stationsRollupQuery): the stays of the range. */
export const staysProbe = (range: Range, station: string | undefined): Query => ({
  name: 'probe',
  text: station === undefined
    ? 'SELECT 1 FROM charging_stays WHERE ended >= $1 AND started < $2'
    : 'SELECT 1 FROM charging_stays WHERE ended >= $1 AND started < $2 AND station_id = $3',
  values: station === undefined ? [range.from, range.to] : [range.from, range.to, station],
});

interface Aggregate {
  view: string;
  /** The materialization hypertable, its time column `bucket` or `hour`. */
  table: string;
  watermark: Date | null;
}

/** The two history aggregates of the current schema, with their watermarks (TimescaleDB only). */
async function aggregates(client: pg.ClientBase): Promise<Map<string, Aggregate>> {
  const { rows } = await client.query<{ view: string; table: string; watermark: Date | null }>(
    `SELECT ca.view_name AS view,
            quote_ident(ca.materialization_hypertable_schema) || '.' || quote_ident(ca.materialization_hypertable_name) AS table,
            _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(h.id)) AS watermark
     FROM timescaledb_information.continuous_aggregates ca
     JOIN _timescaledb_catalog.hypertable h ON h.schema_name = ca.materialization_hypertable_schema AND h.table_name = ca.materialization_hypertable_name
     WHERE ca.view_schema = current_schema() AND ca.view_name IN ('car_telemetry_1m', 'fleet_telemetry_1h')`,
  );
  return new Map(rows.map((r) => [r.view, r]));
}

const later = (a: Date, b: Date | null) => (b !== null && b.getTime() > a.getTime() ? b : a);

export async function fleetProbes(client: pg.ClientBase, range: Range, timescale: boolean): Promise<Query[]> {
  if (!timescale) return [{ name: 'probe', text: 'SELECT 1 FROM fleet_telemetry_hourly WHERE hour >= $1 AND hour < $2', values: [range.from, range.to] }];
  const caggs = await aggregates(client);
  const minute = caggs.get('car_telemetry_1m');
  const hour = caggs.get('fleet_telemetry_1h');
  if (!minute || !hour) return [rangeProbe('car_telemetry', range)];
  const probes: Query[] = [];
  const rawFrom = later(range.from, minute.watermark);
  if (rawFrom < range.to) probes.push(rangeProbe('car_telemetry', { ...range, from: rawFrom }));
  const minuteFrom = later(range.from, hour.watermark);
  const minuteTo = minute.watermark !== null && minute.watermark < range.to ? minute.watermark : range.to;
  // The materialization table's name comes from the catalog, quoted, never from the request.
  if (minuteFrom < minuteTo) probes.push({ name: 'probe', text: `SELECT 1 FROM ${minute.table} WHERE bucket >= $1 AND bucket < $2`, values: [minuteFrom, minuteTo] });
  probes.push({ name: 'probe', text: `SELECT 1 FROM ${hour.table} WHERE hour >= $1 AND hour < $2`, values: [range.from, range.to] });
  return probes;
}
