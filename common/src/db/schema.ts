import type pg from 'pg';
import type { Logger } from '../logger.js';

type Queryable = Pick<pg.Pool | pg.Client, 'query'>;

export interface SchemaResult {
  timescale: boolean;
}

/**
 * The `charging_sessions` table of CONTRACTS.md, idempotent so every start may run it.
 * `(session_id, time)` is unique so a replayed sample inserts nothing twice; on a hypertable a
 * unique index must contain the partitioning column, which `time` is.
 */
const TABLE = `
CREATE TABLE IF NOT EXISTS charging_sessions (
  time        TIMESTAMPTZ      NOT NULL,
  session_id  TEXT             NOT NULL,
  station_id  TEXT             NOT NULL,
  car_id      TEXT             NOT NULL,
  kwh_usage   DOUBLE PRECISION NOT NULL,
  price_rate  DOUBLE PRECISION NOT NULL,
  meter_kwh   DOUBLE PRECISION
)`;

const INDEXES = [
  'CREATE INDEX IF NOT EXISTS charging_sessions_station_id_time_idx ON charging_sessions (station_id, time DESC)',
  'CREATE INDEX IF NOT EXISTS charging_sessions_car_id_time_idx ON charging_sessions (car_id, time DESC)',
  'CREATE UNIQUE INDEX IF NOT EXISTS charging_sessions_session_time_key ON charging_sessions (session_id, time)',
];

/**
 * Hourly price and energy per station. Real-time (`materialized_only = false`) so the newest hour
 * is exact before the refresh policy has materialized it.
 */
const HOURLY_AGGREGATE = `
CREATE MATERIALIZED VIEW IF NOT EXISTS charging_sessions_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS hour,
       station_id,
       count(*)                     AS samples,
       sum(kwh_usage)               AS kwh,
       avg(price_rate)              AS avg_price_rate,
       sum(kwh_usage * price_rate)  AS cost
FROM charging_sessions
GROUP BY hour, station_id
WITH NO DATA`;

const HOURLY_POLICY = `
SELECT add_continuous_aggregate_policy('charging_sessions_hourly',
  start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
  schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE)`;

async function timescaleAvailable(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ available: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available",
  );
  return rows[0]?.available === true;
}

export async function migrate(db: Queryable, log: Logger): Promise<SchemaResult> {
  const timescale = await timescaleAvailable(db);
  if (timescale) await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  await db.query(TABLE);
  if (timescale) {
    await db.query("SELECT create_hypertable('charging_sessions', 'time', if_not_exists => TRUE)");
  } else {
    log.warn('TimescaleDB is not installed on this PostgreSQL server: charging_sessions stays a plain table with the same columns and indexes');
  }
  for (const statement of INDEXES) await db.query(statement);
  if (timescale) {
    await db.query(HOURLY_AGGREGATE);
    try {
      await db.query(HOURLY_POLICY);
    } catch (error) {
      // Servers without background workers (the embedded build) still answer the real-time view.
      log.info({ err: (error as Error).message }, 'no refresh policy for charging_sessions_hourly; it is computed at query time');
    }
  }
  return { timescale };
}
