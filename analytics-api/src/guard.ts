/**
 * Refuses a query that would scan too much before it runs. Each endpoint's query reads its table
 * by a key and a time range (queries.ts); the rows that key and range select are what it reads,
 * and the planner estimates them from its statistics: EXPLAIN (which plans without executing) of
 * the bare scan, `SELECT 1 FROM table WHERE key AND range`. (The endpoint's own plan does not
 * say it: a scan node's estimate counts the rows its filters keep, not the rows it reads.)
 *
 * The fleet summary reads fleet_telemetry_1h. On PostgreSQL that is a view over every sample of
 * the range. On TimescaleDB it is a real-time continuous aggregate: its materialized hours are
 * cheap, and only what its refreshes have not reached yet is computed from below: the minute
 * aggregate's materialized rows after the hour aggregate's watermark, and the raw samples after
 * the minute aggregate's. Never refreshed, that is every sample of the range, as on PostgreSQL.
 */
import type pg from 'pg';
import type { Range } from './params.js';
import type { Query } from './queries.js';

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
  if (!timescale) return [rangeProbe('car_telemetry', range)];
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
