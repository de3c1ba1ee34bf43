import type pg from 'pg';
import type { Logger } from '../logger.js';
import { FLEET_VIEW, ensureRollups, type RollupResult } from './rollups.js';

export { MOVING_KMH, ensureRollups, type RollupResult } from './rollups.js';

type Queryable = Pick<pg.Pool | pg.Client | pg.ClientBase, 'query'>;

export interface TelemetrySchemaOptions {
  /** Create or update compression and retention policies (the history writer); false leaves them as they are (the API). */
  policies: boolean;
  /** Rows older than this are dropped by the retention policy. */
  retentionDays: number;
  /** Chunks older than this are compressed. */
  compressAfterHours: number;
  /**
   * Without TimescaleDB: build the rollups (rollups.ts) where they are missing, backfilling the
   * stored history once [true]. False builds none; rollups already there stay maintained (their
   * triggers are the database's) and read.
   */
  rollups?: boolean;
}

export interface TelemetrySchemaResult {
  timescale: boolean;
  /** Without TimescaleDB: the rollups present and maintained (none with TimescaleDB). */
  rollups: RollupResult;
  /** Ids of the TimescaleDB jobs of car_telemetry and its aggregates (compression, retention, refreshes). */
  jobs: number[];
}

/**
 * car_telemetry: one row per accepted CarStatus (event on fleet-events). `interval_s` and
 * `distance_km` are the time and great-circle distance from the car's previous sample, written by
 * the history writer (0 for a car's first sample and after a gap of more than 5 minutes), so that
 * distances and charging time add up in aggregates without window functions.
 */
const TABLE = `
CREATE TABLE IF NOT EXISTS car_telemetry (
  time              TIMESTAMPTZ      NOT NULL,
  car_id            TEXT             NOT NULL,
  event_id          TEXT             NOT NULL,
  lat               DOUBLE PRECISION NOT NULL,
  lon               DOUBLE PRECISION NOT NULL,
  battery           DOUBLE PRECISION NOT NULL,
  velocity          DOUBLE PRECISION NOT NULL,
  station_id        TEXT,
  charging          BOOLEAN          NOT NULL DEFAULT false,
  charge_energy_kwh DOUBLE PRECISION,
  plugged_in_at     TIMESTAMPTZ,
  late              BOOLEAN          NOT NULL DEFAULT false,
  interval_s        DOUBLE PRECISION NOT NULL DEFAULT 0,
  distance_km       DOUBLE PRECISION NOT NULL DEFAULT 0
)`;

/**
 * (car_id, time, event_id) is unique: event_id names the CarStatus (a hash of its fields, car and
 * timestamp among them), so a replay or a duplicate inserts nothing; on a hypertable a unique index
 * must hold the time column. The same index serves every per-car range query.
 */
const INDEXES = [
  'CREATE UNIQUE INDEX IF NOT EXISTS car_telemetry_car_time_event_key ON car_telemetry (car_id, time DESC, event_id)',
  'CREATE INDEX IF NOT EXISTS car_telemetry_station_time_idx ON car_telemetry (station_id, time DESC) WHERE station_id IS NOT NULL',
];
/** TimescaleDB makes this one with the hypertable; plain PostgreSQL needs it for time-range scans. */
const TIME_INDEX = 'CREATE INDEX IF NOT EXISTS car_telemetry_time_idx ON car_telemetry (time DESC)';

/** The per-car minute summary's columns, from car_telemetry; `bucket` is the caller's expression. */
const MINUTE_COLUMNS = `car_id,
       count(*)                                        AS samples,
       sum(distance_km)                                AS distance_km,
       sum(velocity)                                   AS sum_speed_kmh,
       avg(velocity)                                   AS avg_speed_kmh,
       max(velocity)                                   AS max_speed_kmh,
       min(battery)                                    AS min_battery,
       sum(CASE WHEN charging THEN interval_s ELSE 0 END) AS charging_s`;
/** The fleet hour's columns, from car_telemetry_1m. */
const HOUR_COLUMNS = `count(*)                        AS car_minutes,
       sum(samples)                    AS samples,
       sum(distance_km)                AS distance_km,
       sum(sum_speed_kmh) / sum(samples) AS avg_speed_kmh,
       max(max_speed_kmh)              AS max_speed_kmh,
       min(min_battery)                AS min_battery,
       sum(charging_s)                 AS charging_s`;

/** Real-time continuous aggregates: the newest buckets are exact before a refresh has materialized them. */
const CAGG_MINUTE = `
CREATE MATERIALIZED VIEW IF NOT EXISTS car_telemetry_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, ${MINUTE_COLUMNS}
FROM car_telemetry GROUP BY bucket, car_id
WITH NO DATA`;
const CAGG_HOUR = `
CREATE MATERIALIZED VIEW IF NOT EXISTS fleet_telemetry_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS hour, ${HOUR_COLUMNS}
FROM car_telemetry_1m GROUP BY hour
WITH NO DATA`;
/** Plain PostgreSQL: the same names and columns as views, computed at query time; buckets in UTC whatever the session's TimeZone, as time_bucket's. */
const VIEW_MINUTE = `
CREATE OR REPLACE VIEW car_telemetry_1m AS
SELECT date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket, ${MINUTE_COLUMNS}
FROM car_telemetry GROUP BY bucket, car_id`;
const VIEW_HOUR = `
CREATE OR REPLACE VIEW fleet_telemetry_1h AS
SELECT date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour, ${HOUR_COLUMNS}
FROM car_telemetry_1m GROUP BY hour`;

/**
 * Refreshes over the whole retained history: a refresh only recomputes the buckets whose rows
 * changed since (TimescaleDB tracks the invalidations), and a narrower window would leave late
 * rows (a replay, a buffered upload) older than it out of the aggregates for good, since a
 * real-time aggregate computes from the raw rows only after its last refresh.
 */
const refreshPolicies = (retentionDays: number) => [
  `SELECT add_continuous_aggregate_policy('car_telemetry_1m', start_offset => INTERVAL '${retentionDays} days', end_offset => INTERVAL '1 minute',
     schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE)`,
  `SELECT add_continuous_aggregate_policy('fleet_telemetry_1h', start_offset => INTERVAL '${retentionDays} days', end_offset => INTERVAL '1 hour',
     schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE)`,
];

/** The rollups' backfill is a transaction: it needs one connection, not a pool. */
async function oneConnection(db: Queryable): Promise<Queryable> {
  if ('totalCount' in db) throw new Error('migrateTelemetry needs a client (one connection), not a pool, on PostgreSQL without TimescaleDB');
  return db;
}

async function timescaleInstalled(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ available: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available",
  );
  return rows[0]?.available === true;
}

/** The job ids of car_telemetry and its aggregates in the current schema. */
export async function telemetryJobs(db: Queryable): Promise<number[]> {
  const { rows } = await db.query<{ job_id: number }>(
    `SELECT job_id FROM timescaledb_information.jobs
     WHERE hypertable_schema = current_schema() AND hypertable_name IN ('car_telemetry', 'car_telemetry_1m', 'fleet_telemetry_1h')
     ORDER BY job_id`,
  );
  return rows.map((r) => r.job_id);
}

async function setPolicies(db: Queryable, opts: TelemetrySchemaOptions): Promise<void> {
  await db.query(`ALTER TABLE car_telemetry SET (timescaledb.compress, timescaledb.compress_segmentby = 'car_id', timescaledb.compress_orderby = 'time DESC')`);
  // Replaced, not kept, so that a changed setting takes effect at the next start.
  await db.query("SELECT remove_compression_policy('car_telemetry', if_exists => TRUE)");
  await db.query(`SELECT add_compression_policy('car_telemetry', INTERVAL '${opts.compressAfterHours} hours')`);
  await db.query("SELECT remove_retention_policy('car_telemetry', if_exists => TRUE)");
  await db.query(`SELECT add_retention_policy('car_telemetry', INTERVAL '${opts.retentionDays} days')`);
  for (const view of ['car_telemetry_1m', 'fleet_telemetry_1h']) await db.query(`SELECT remove_continuous_aggregate_policy('${view}', if_exists => TRUE)`);
  for (const policy of refreshPolicies(opts.retentionDays)) await db.query(policy);
}

/**
 * Creates car_telemetry, its indexes and its summaries, idempotently (every start runs it). With
 * TimescaleDB: a hypertable of one-day chunks, compression and retention policies, and the
 * continuous aggregates car_telemetry_1m (per car and minute) and fleet_telemetry_1h (per hour,
 * on top of the first). Without: a plain table and two views of the same names and columns, and
 * one warning.
 */
export async function migrateTelemetry(db: Queryable, log: Logger, opts: TelemetrySchemaOptions): Promise<TelemetrySchemaResult> {
  if (!Number.isInteger(opts.retentionDays) || !Number.isInteger(opts.compressAfterHours)) throw new Error('retentionDays and compressAfterHours must be integers');
  const timescale = await timescaleInstalled(db);
  if (timescale) await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  await db.query(TABLE);
  if (timescale) {
    await db.query("SELECT create_hypertable('car_telemetry', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE)");
  } else {
    await db.query(TIME_INDEX);
  }
  for (const statement of INDEXES) await db.query(statement);
  if (!timescale) {
    await db.query(VIEW_MINUTE);
    const rollups = await ensureRollups(await oneConnection(db), log, { create: opts.rollups !== false, rawFleetView: VIEW_HOUR });
    await db.query(rollups.telemetry ? FLEET_VIEW : VIEW_HOUR);
    log.warn(`TimescaleDB is not installed on this PostgreSQL server: car_telemetry stays a plain table, car_telemetry_1m is a plain view, fleet_telemetry_1h ${rollups.telemetry ? 'a view of the rollup fleet_telemetry_hourly (maintained by triggers)' : 'a plain view'}, and there is no compression or retention`);
    return { timescale, rollups, jobs: [] };
  }
  await db.query(CAGG_MINUTE);
  await db.query(CAGG_HOUR);
  if (opts.policies) await setPolicies(db, opts);
  return { timescale, rollups: { telemetry: false, stays: false, backfilled: [] }, jobs: await telemetryJobs(db) };
}
