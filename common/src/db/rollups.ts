/**
 * Rollups of the history on PostgreSQL without TimescaleDB (where the continuous aggregates are
 * absent), so that the analytics API reads pre-aggregated rows instead of scanning raw ones:
 *
 * - `car_telemetry_hourly`: per car and hour (UTC), the samples, the minutes that had one (a
 *   bitmask), distance, time charging, and sum / min / max of battery, velocity, lat and lon;
 * - `fleet_telemetry_hourly`: per hour (in up to 16 rows, FLEET_SHARDS), car-minutes, samples,
 *   distance, the speeds' sum and max, the lowest battery, time charging (the plain-PostgreSQL
 *   `fleet_telemetry_1h` view adds them up);
 * - `charging_stays`: per stay of charging_sessions (session, station, car), first and last
 *   sample, samples, kWh and cost;
 * - and, for the trips, which need every moving sample, `car_telemetry_moving_idx`: a partial
 *   index of car_telemetry's moving samples (velocity ≥ 1 km/h) holding what a trip adds up, so a
 *   month of a car's trips is an index-only scan of its moving samples instead of a heap fetch of
 *   every sample (MOVING_INDEX).
 *
 * The hourly tables keep free room in their pages (fillfactor 70): the current hour's rows are
 * updated by every batch, and an update that fits in its page is a HOT update (no index entry).
 *
 * They are maintained by statement-level triggers with transition tables, in the transaction of
 * the statement that writes the rows, whoever writes them (the history writer, the pricing
 * worker, an older version of either during an upgrade, a test's fixture, an analyst). An INSERT
 * adds the aggregates of its transition table: only the rows actually inserted, so a replay or a
 * duplicate (ON CONFLICT DO NOTHING) counts nothing. Sums and counts are stored, never averages,
 * so averages over any number of hours are weighted (Σ value ÷ Σ samples). An UPDATE or DELETE
 * recomputes the hours or stays it touched from the raw rows, after locking their rollup rows,
 * so concurrent inserts neither get lost nor count twice; TRUNCATE empties the rollups.
 *
 * The car-minutes of a fleet hour are distinct (car, minute) pairs. Each car-hour keeps its
 * minutes as a bitmask, and the upsert stores how many minutes it newly set (`new_minutes`,
 * computed against the row it locked), which is what the fleet hour adds.
 *
 * Creation and the one-time backfill of an existing history happen together, in one transaction:
 * the source table is locked in SHARE mode (writers wait; readers do not), the tables, functions
 * and triggers are created, the rollups are filled from every stored row, and `history_rollups`
 * records it. So no row is counted twice or missed, and a start that is interrupted leaves
 * nothing behind (the next one does it again). A start that finds them complete, with the
 * current definitions (a hash of every statement below, `definition` in history_rollups), only
 * checks that they are there; after a change of any definition the next start rebuilds them once.
 *
 * On TimescaleDB nothing here is created: transition tables do not exist on hypertables, and
 * the continuous aggregates do this job there.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../logger.js';

type Queryable = Pick<pg.Pool | pg.Client | pg.ClientBase, 'query'>;

/** Hours as date_bin with an hour-aligned UTC origin (the plain views' buckets, time_bucket's). */
const HOUR = (column: string) => `date_bin(INTERVAL '1 hour', ${column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')`;

export interface RollupResult {
  /** car_telemetry_hourly and fleet_telemetry_hourly exist and are maintained. */
  telemetry: boolean;
  /** charging_stays exists and is maintained (charging_sessions existed at the migration). */
  stays: boolean;
  /** What this start backfilled: rows read and seconds, per rollup. */
  backfilled: Array<{ rollup: string; sourceRows: number; seconds: number }>;
}

const STATE = `
CREATE TABLE IF NOT EXISTS history_rollups (
  name          TEXT PRIMARY KEY,
  definition    TEXT NOT NULL,
  backfilled_at TIMESTAMPTZ NOT NULL,
  source_rows   BIGINT NOT NULL,
  seconds       DOUBLE PRECISION NOT NULL
)`;

const CAR_HOURLY = `
CREATE TABLE car_telemetry_hourly (
  car_id       TEXT             NOT NULL,
  hour         TIMESTAMPTZ      NOT NULL,
  samples      BIGINT           NOT NULL,
  minutes      BIGINT           NOT NULL,
  new_minutes  INT              NOT NULL,
  distance_km  DOUBLE PRECISION NOT NULL,
  charging_s   DOUBLE PRECISION NOT NULL,
  battery_sum  DOUBLE PRECISION NOT NULL,
  battery_min  DOUBLE PRECISION NOT NULL,
  battery_max  DOUBLE PRECISION NOT NULL,
  velocity_sum DOUBLE PRECISION NOT NULL,
  velocity_min DOUBLE PRECISION NOT NULL,
  velocity_max DOUBLE PRECISION NOT NULL,
  lat_sum      DOUBLE PRECISION NOT NULL,
  lat_min      DOUBLE PRECISION NOT NULL,
  lat_max      DOUBLE PRECISION NOT NULL,
  lon_sum      DOUBLE PRECISION NOT NULL,
  lon_min      DOUBLE PRECISION NOT NULL,
  lon_max      DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (car_id, hour)
) WITH (fillfactor = 70)`;
/** For recomputing a fleet hour from its car-hours (an update or delete); an update of a row never changes it (HOT). */
const CAR_HOURLY_HOUR_INDEX = 'CREATE INDEX car_telemetry_hourly_hour_idx ON car_telemetry_hourly (hour)';

/**
 * Every batch adds to the current hour's fleet row, and holds that row's lock until it commits
 * (its WAL flush): with one row per hour, writers on other partitions would commit one at a time.
 * So an hour has up to FLEET_SHARDS rows, one per writing connection (pg_backend_pid() modulo),
 * which the view adds up; a recomputed hour is one row (shard 0).
 */
const FLEET_SHARDS = 16;
const FLEET_HOURLY = `
CREATE TABLE fleet_telemetry_hourly (
  hour          TIMESTAMPTZ      NOT NULL,
  shard         SMALLINT         NOT NULL,
  car_minutes   BIGINT           NOT NULL,
  samples       BIGINT           NOT NULL,
  distance_km   DOUBLE PRECISION NOT NULL,
  velocity_sum  DOUBLE PRECISION NOT NULL,
  max_speed_kmh DOUBLE PRECISION NOT NULL,
  min_battery   DOUBLE PRECISION NOT NULL,
  charging_s    DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (hour, shard)
) WITH (fillfactor = 70)`;

const STAYS = [
  `CREATE TABLE charging_stays (
     session_id TEXT             NOT NULL,
     station_id TEXT             NOT NULL,
     car_id     TEXT             NOT NULL,
     started    TIMESTAMPTZ      NOT NULL,
     ended      TIMESTAMPTZ      NOT NULL,
     samples    BIGINT           NOT NULL,
     kwh        DOUBLE PRECISION NOT NULL,
     cost       DOUBLE PRECISION NOT NULL,
     PRIMARY KEY (session_id, station_id, car_id)
   )`,
  'CREATE INDEX charging_stays_ended_idx ON charging_stays (ended)',
  'CREATE INDEX charging_stays_station_ended_idx ON charging_stays (station_id, ended)',
];

/**
 * Plain PostgreSQL's fleet_telemetry_1h (telemetry-schema.ts) over the fleet rollup: the same
 * columns and types as the view that computes it from the samples, so either replaces the other.
 */
export const FLEET_VIEW = `
CREATE OR REPLACE VIEW fleet_telemetry_1h AS
SELECT hour, sum(car_minutes)::bigint AS car_minutes, sum(samples) AS samples, sum(distance_km) AS distance_km,
       sum(velocity_sum) / sum(samples)::float8 AS avg_speed_kmh, max(max_speed_kmh) AS max_speed_kmh, min(min_battery) AS min_battery,
       sum(charging_s) AS charging_s
FROM fleet_telemetry_hourly GROUP BY hour`;

/** The analytics API's trips query (analytics-api/src/queries.ts) names the same predicate, so the planner can use it. */
export const MOVING_KMH = 1;
const MOVING_INDEX = `CREATE INDEX car_telemetry_moving_idx ON car_telemetry (car_id, time) INCLUDE (velocity, battery, distance_km) WHERE velocity >= ${MOVING_KMH}`;

const CAR_COLUMNS = 'car_id, hour, samples, minutes, new_minutes, distance_km, charging_s, battery_sum, battery_min, battery_max, velocity_sum, velocity_min, velocity_max, lat_sum, lat_min, lat_max, lon_sum, lon_min, lon_max';
const FLEET_COLUMNS = 'hour, shard, car_minutes, samples, distance_km, velocity_sum, max_speed_kmh, min_battery, charging_s';
const STAY_COLUMNS = 'session_id, station_id, car_id, started, ended, samples, kwh, cost';

/** A car-hour's aggregates over car_telemetry rows `r` of the hour starting at `hour`: car_telemetry_hourly's columns after car_id, hour. */
const carValues = (hour: string) => `count(*) AS samples,
       bit_or(1::bigint << floor(extract(epoch FROM r.time - ${hour}) / 60)::int) AS minutes,
       bit_count(bit_or(1::bigint << floor(extract(epoch FROM r.time - ${hour}) / 60)::int)::bit(64))::int AS new_minutes,
       sum(r.distance_km) AS distance_km, sum(CASE WHEN r.charging THEN r.interval_s ELSE 0 END) AS charging_s,
       sum(r.battery) AS battery_sum, min(r.battery) AS battery_min, max(r.battery) AS battery_max,
       sum(r.velocity) AS velocity_sum, min(r.velocity) AS velocity_min, max(r.velocity) AS velocity_max,
       sum(r.lat) AS lat_sum, min(r.lat) AS lat_min, max(r.lat) AS lat_max,
       sum(r.lon) AS lon_sum, min(r.lon) AS lon_min, max(r.lon) AS lon_max`;

/** Per car and hour over every row of `source` (car_telemetry's columns): the columns of car_telemetry_hourly. */
const carAggregate = (source: string) => `
SELECT r.car_id, r.hour, ${carValues('r.hour')}
FROM (SELECT s.*, ${HOUR('s.time')} AS hour FROM ${source} s) r
GROUP BY r.car_id, r.hour`;

/**
 * The car-hours named by the arrays `cars`, `hours` (plpgsql variables), each from its own range
 * scan of car_telemetry's (car_id, time) index (LATERAL: never a join the planner could turn
 * into a scan of the whole table); those with no row left are absent.
 */
const carRecompute = (table: string) => `
SELECT k.car_id, k.hour, a.*
FROM unnest(cars, hours) AS k(car_id, hour)
CROSS JOIN LATERAL (SELECT ${carValues('k.hour')} FROM ${table} r WHERE r.car_id = k.car_id AND r.time >= k.hour AND r.time < k.hour + INTERVAL '1 hour') a
WHERE a.samples > 0`;

/** A fleet hour's aggregates over car_telemetry_hourly rows `h`: fleet_telemetry_hourly's columns after hour. */
const FLEET_VALUES = `sum(bit_count(h.minutes::bit(64)))::bigint AS car_minutes, sum(h.samples)::bigint AS samples, sum(h.distance_km) AS distance_km,
       sum(h.velocity_sum) AS velocity_sum, max(h.velocity_max) AS max_speed_kmh, min(h.battery_min) AS min_battery, sum(h.charging_s) AS charging_s`;

/** Per hour over every row of car_telemetry_hourly `source`. */
const fleetAggregate = (source: string) => `SELECT h.hour, 0::smallint AS shard, ${FLEET_VALUES} FROM ${source} h GROUP BY h.hour`;

/** The fleet hours of the array `fleet_hours`, each from the car-hours of its hour (car_telemetry_hourly_hour_idx). */
const fleetRecompute = (table: string) => `
SELECT k.hour, 0::smallint AS shard, a.*
FROM unnest(fleet_hours) AS k(hour)
CROSS JOIN LATERAL (SELECT ${FLEET_VALUES} FROM ${table} h WHERE h.hour = k.hour) a
WHERE a.samples > 0`;

/**
 * A stay's aggregates over charging_sessions rows `r`. A kwh_usage of NaN is the pricing worker's
 * placeholder for a late sample, recomputed by an UPDATE in the same transaction: counted 0 here,
 * then the UPDATE recomputes the stay.
 */
const STAY_VALUES = `min(r.time) AS started, max(r.time) AS ended, count(*) AS samples,
       coalesce(sum(r.kwh_usage) FILTER (WHERE r.kwh_usage <> 'NaN'::float8), 0) AS kwh,
       coalesce(sum(r.kwh_usage * r.price_rate) FILTER (WHERE r.kwh_usage <> 'NaN'::float8), 0) AS cost`;

/** Per stay over every row of `source` (charging_sessions' columns): the columns of charging_stays. */
const stayAggregate = (source: string) => `
SELECT r.session_id, r.station_id, r.car_id, ${STAY_VALUES} FROM ${source} r GROUP BY r.session_id, r.station_id, r.car_id`;

/** The stays named by the arrays `sessions`, `stations`, `cars`, each from its session's (session_id, time) index. */
const stayRecompute = (table: string) => `
SELECT k.session_id, k.station_id, k.car_id, a.*
FROM unnest(sessions, stations, cars) AS k(session_id, station_id, car_id)
CROSS JOIN LATERAL (SELECT ${STAY_VALUES} FROM ${table} r WHERE r.session_id = k.session_id AND r.station_id = k.station_id AND r.car_id = k.car_id) a
WHERE a.samples > 0`;

/** `SET x = excluded.x` for every column but the keys: a recomputed row replaces the stored one. */
const replaceAll = (columns: string, keys: string[]) =>
  columns.split(', ').filter((c) => !keys.includes(c)).map((c) => `${c} = excluded.${c}`).join(', ');

/** The trigger functions, with the rollups' schema written in (a trigger fires whatever the writer's search_path). */
function functions(s: string): Record<string, string> {
  const carHourly = `${s}.car_telemetry_hourly`;
  const fleetHourly = `${s}.fleet_telemetry_hourly`;
  const stays = `${s}.charging_stays`;
  /** Recomputes the car-hours of `changed` (car_id, time rows) from car_telemetry, then their fleet hours. */
  const recomputeTelemetry = (changed: string) => `
DECLARE
  cars text[];
  hours timestamptz[];
  fleet_hours timestamptz[];
BEGIN
  SELECT array_agg(car_id ORDER BY car_id, hour), array_agg(hour ORDER BY car_id, hour) INTO cars, hours
  FROM (SELECT DISTINCT car_id, ${HOUR('time')} AS hour FROM (${changed}) c) k;
  IF cars IS NULL THEN RETURN NULL; END IF;
  SELECT array_agg(DISTINCT h ORDER BY h) INTO fleet_hours FROM unnest(hours) h;
  -- Locked first: an insert in flight on these rows commits before the recompute reads, a later one adds its delta after it.
  PERFORM 1 FROM ${carHourly} h JOIN unnest(cars, hours) k(car_id, hour) ON h.car_id = k.car_id AND h.hour = k.hour ORDER BY h.car_id, h.hour FOR UPDATE OF h;
  WITH agg AS (${carRecompute(`${s}.car_telemetry`)}),
  gone AS (
    DELETE FROM ${carHourly} h USING unnest(cars, hours) k(car_id, hour)
    WHERE h.car_id = k.car_id AND h.hour = k.hour AND NOT EXISTS (SELECT 1 FROM agg WHERE agg.car_id = h.car_id AND agg.hour = h.hour)
  )
  INSERT INTO ${carHourly} AS h (${CAR_COLUMNS}) SELECT ${CAR_COLUMNS} FROM agg ORDER BY car_id, hour
  ON CONFLICT (car_id, hour) DO UPDATE SET ${replaceAll(CAR_COLUMNS, ['car_id', 'hour'])};
  PERFORM 1 FROM ${fleetHourly} f WHERE f.hour = ANY (fleet_hours) ORDER BY f.hour, f.shard FOR UPDATE;
  WITH agg AS (${fleetRecompute(carHourly)}),
  gone AS (DELETE FROM ${fleetHourly} f WHERE f.hour = ANY (fleet_hours) AND (f.shard <> 0 OR NOT EXISTS (SELECT 1 FROM agg WHERE agg.hour = f.hour)))
  INSERT INTO ${fleetHourly} AS f (${FLEET_COLUMNS}) SELECT ${FLEET_COLUMNS} FROM agg ORDER BY hour
  ON CONFLICT (hour, shard) DO UPDATE SET ${replaceAll(FLEET_COLUMNS, ['hour', 'shard'])};
  RETURN NULL;
END`;
  const recomputeStays = (changed: string) => `
DECLARE
  sessions text[];
  stations text[];
  cars text[];
BEGIN
  SELECT array_agg(session_id ORDER BY session_id, station_id, car_id), array_agg(station_id ORDER BY session_id, station_id, car_id),
         array_agg(car_id ORDER BY session_id, station_id, car_id) INTO sessions, stations, cars
  FROM (SELECT DISTINCT session_id, station_id, car_id FROM (${changed}) c) k;
  IF sessions IS NULL THEN RETURN NULL; END IF;
  PERFORM 1 FROM ${stays} t JOIN unnest(sessions, stations, cars) k(session_id, station_id, car_id)
    ON t.session_id = k.session_id AND t.station_id = k.station_id AND t.car_id = k.car_id
  ORDER BY t.session_id, t.station_id, t.car_id FOR UPDATE OF t;
  WITH agg AS (${stayRecompute(`${s}.charging_sessions`)}),
  gone AS (
    DELETE FROM ${stays} t USING unnest(sessions, stations, cars) k(session_id, station_id, car_id)
    WHERE t.session_id = k.session_id AND t.station_id = k.station_id AND t.car_id = k.car_id
      AND NOT EXISTS (SELECT 1 FROM agg WHERE agg.session_id = t.session_id AND agg.station_id = t.station_id AND agg.car_id = t.car_id)
  )
  INSERT INTO ${stays} AS t (${STAY_COLUMNS}) SELECT ${STAY_COLUMNS} FROM agg ORDER BY session_id, station_id, car_id
  ON CONFLICT (session_id, station_id, car_id) DO UPDATE SET ${replaceAll(STAY_COLUMNS, ['session_id', 'station_id', 'car_id'])};
  RETURN NULL;
END`;
  return {
    // The inserted rows only (a conflicting row is not in the transition table); the car-hours in
    // key order and the fleet hours in time order, so two writers lock them in the same order.
    car_telemetry_rollup_insert: `
BEGIN
  WITH delta AS (${carAggregate('inserted')}),
  car AS (
    INSERT INTO ${carHourly} AS h (${CAR_COLUMNS}) SELECT ${CAR_COLUMNS} FROM delta ORDER BY car_id, hour
    ON CONFLICT (car_id, hour) DO UPDATE SET
      samples = h.samples + excluded.samples,
      minutes = h.minutes | excluded.minutes,
      new_minutes = bit_count((excluded.minutes & ~h.minutes)::bit(64))::int,
      distance_km = h.distance_km + excluded.distance_km,
      charging_s = h.charging_s + excluded.charging_s,
      battery_sum = h.battery_sum + excluded.battery_sum, battery_min = least(h.battery_min, excluded.battery_min), battery_max = greatest(h.battery_max, excluded.battery_max),
      velocity_sum = h.velocity_sum + excluded.velocity_sum, velocity_min = least(h.velocity_min, excluded.velocity_min), velocity_max = greatest(h.velocity_max, excluded.velocity_max),
      lat_sum = h.lat_sum + excluded.lat_sum, lat_min = least(h.lat_min, excluded.lat_min), lat_max = greatest(h.lat_max, excluded.lat_max),
      lon_sum = h.lon_sum + excluded.lon_sum, lon_min = least(h.lon_min, excluded.lon_min), lon_max = greatest(h.lon_max, excluded.lon_max)
    RETURNING hour, new_minutes
  ),
  minutes AS (SELECT hour, sum(new_minutes)::bigint AS car_minutes FROM car GROUP BY hour),
  fleet AS (
    SELECT hour, sum(samples)::bigint AS samples, sum(distance_km) AS distance_km, sum(velocity_sum) AS velocity_sum,
           max(velocity_max) AS max_speed_kmh, min(battery_min) AS min_battery, sum(charging_s) AS charging_s
    FROM delta GROUP BY hour
  )
  INSERT INTO ${fleetHourly} AS f (${FLEET_COLUMNS})
  SELECT fleet.hour, (pg_backend_pid() % ${FLEET_SHARDS})::smallint, minutes.car_minutes, fleet.samples, fleet.distance_km, fleet.velocity_sum, fleet.max_speed_kmh, fleet.min_battery, fleet.charging_s
  FROM fleet JOIN minutes USING (hour) ORDER BY hour
  ON CONFLICT (hour, shard) DO UPDATE SET
    car_minutes = f.car_minutes + excluded.car_minutes,
    samples = f.samples + excluded.samples,
    distance_km = f.distance_km + excluded.distance_km,
    velocity_sum = f.velocity_sum + excluded.velocity_sum,
    max_speed_kmh = greatest(f.max_speed_kmh, excluded.max_speed_kmh),
    min_battery = least(f.min_battery, excluded.min_battery),
    charging_s = f.charging_s + excluded.charging_s;
  RETURN NULL;
END`,
    car_telemetry_rollup_update: recomputeTelemetry('SELECT car_id, time FROM old_rows UNION ALL SELECT car_id, time FROM new_rows'),
    car_telemetry_rollup_delete: recomputeTelemetry('SELECT car_id, time FROM old_rows'),
    car_telemetry_rollup_truncate: `
BEGIN
  TRUNCATE ${carHourly}, ${fleetHourly};
  RETURN NULL;
END`,
    charging_stays_insert: `
BEGIN
  INSERT INTO ${stays} AS t (${STAY_COLUMNS})
  SELECT ${STAY_COLUMNS} FROM (${stayAggregate('inserted')}) d ORDER BY session_id, station_id, car_id
  ON CONFLICT (session_id, station_id, car_id) DO UPDATE SET
    started = least(t.started, excluded.started), ended = greatest(t.ended, excluded.ended),
    samples = t.samples + excluded.samples, kwh = t.kwh + excluded.kwh, cost = t.cost + excluded.cost;
  RETURN NULL;
END`,
    charging_stays_update: recomputeStays('SELECT session_id, station_id, car_id FROM old_rows UNION ALL SELECT session_id, station_id, car_id FROM new_rows'),
    charging_stays_delete: recomputeStays('SELECT session_id, station_id, car_id FROM old_rows'),
    charging_stays_truncate: `
BEGIN
  TRUNCATE ${stays};
  RETURN NULL;
END`,
  };
}

interface Rollup {
  name: string;
  source: string;
  tables: string[];
  /** The view that reads the tables: turned back to its raw definition before they are dropped, to theirs after the backfill. */
  view?: 'fleet';
  create: string[];
  /** Indexes of the source table, built with the rollup (name, statement). */
  indexes: Array<[string, string]>;
  /** The trigger functions of this rollup, by the event they follow. */
  triggers: Array<{ fn: string; event: 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE' }>;
  backfill: string[];
}

const ROLLUPS: Rollup[] = [
  {
    name: 'telemetry',
    source: 'car_telemetry',
    tables: ['car_telemetry_hourly', 'fleet_telemetry_hourly'],
    view: 'fleet',
    create: [CAR_HOURLY, CAR_HOURLY_HOUR_INDEX, FLEET_HOURLY],
    indexes: [['car_telemetry_moving_idx', MOVING_INDEX]],
    triggers: [
      { fn: 'car_telemetry_rollup_insert', event: 'INSERT' },
      { fn: 'car_telemetry_rollup_update', event: 'UPDATE' },
      { fn: 'car_telemetry_rollup_delete', event: 'DELETE' },
      { fn: 'car_telemetry_rollup_truncate', event: 'TRUNCATE' },
    ],
    backfill: [
      // In key order: a car's hours of the backfilled history lie together (a month is about 40 pages, not 720).
      `INSERT INTO car_telemetry_hourly (${CAR_COLUMNS}) ${carAggregate('car_telemetry')} ORDER BY car_id, hour`,
      `INSERT INTO fleet_telemetry_hourly (${FLEET_COLUMNS}) ${fleetAggregate('car_telemetry_hourly')}`,
    ],
  },
  {
    name: 'stays',
    source: 'charging_sessions',
    tables: ['charging_stays'],
    create: STAYS,
    indexes: [],
    triggers: [
      { fn: 'charging_stays_insert', event: 'INSERT' },
      { fn: 'charging_stays_update', event: 'UPDATE' },
      { fn: 'charging_stays_delete', event: 'DELETE' },
      { fn: 'charging_stays_truncate', event: 'TRUNCATE' },
    ],
    backfill: [`INSERT INTO charging_stays (${STAY_COLUMNS}) ${stayAggregate('charging_sessions')}`],
  },
];

const transition = (event: string) =>
  event === 'INSERT' ? 'REFERENCING NEW TABLE AS inserted' : event === 'UPDATE' ? 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows' : event === 'DELETE' ? 'REFERENCING OLD TABLE AS old_rows' : '';

async function exists(db: Queryable, relation: string): Promise<boolean> {
  const { rows } = await db.query<{ e: boolean }>('SELECT to_regclass($1) IS NOT NULL AS e', [relation]);
  return rows[0]?.e === true;
}

/** What a rollup is made of, hashed: a changed statement, a changed rollup. */
function definitionOf(rollup: Rollup): string {
  const bodies = functions('"<schema>"');
  const text = JSON.stringify([rollup, FLEET_VIEW, rollup.triggers.map((t) => bodies[t.fn])]);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The rollup is complete here: recorded with these definitions, its tables, indexes and triggers present. */
async function complete(db: Queryable, rollup: Rollup): Promise<boolean> {
  const { rows } = await db.query<{ definition: string }>('SELECT definition FROM history_rollups WHERE name = $1', [rollup.name]);
  if (rows[0]?.definition !== definitionOf(rollup)) return false;
  for (const table of [...rollup.tables, ...rollup.indexes.map(([name]) => name)]) if (!(await exists(db, table))) return false;
  const { rows: triggers } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = ANY ($2::text[]) AND tgenabled <> $3',
    [rollup.source, rollup.triggers.map((t) => t.fn), 'D'],
  );
  return triggers[0]?.n === rollup.triggers.length;
}

/** Creates and fills one rollup, in the caller's transaction, its source locked against writers. */
async function build(db: Queryable, rollup: Rollup, schema: string, rawFleetView: string): Promise<{ sourceRows: number; seconds: number }> {
  const started = performance.now();
  await db.query(`LOCK TABLE ${rollup.source} IN SHARE MODE`);
  for (const t of rollup.triggers) await db.query(`DROP TRIGGER IF EXISTS ${t.fn} ON ${rollup.source}`);
  // CREATE OR REPLACE, not DROP: views an analyst made on top of it keep working.
  if (rollup.view === 'fleet') await db.query(rawFleetView);
  for (const table of rollup.tables) await db.query(`DROP TABLE IF EXISTS ${table}`);
  for (const [name] of rollup.indexes) await db.query(`DROP INDEX IF EXISTS ${name}`);
  for (const statement of rollup.create) await db.query(statement);
  const bodies = functions(schema);
  for (const t of rollup.triggers) {
    await db.query(`CREATE OR REPLACE FUNCTION ${t.fn}() RETURNS trigger LANGUAGE plpgsql AS $rollup$${bodies[t.fn]}$rollup$`);
    await db.query(`CREATE TRIGGER ${t.fn} AFTER ${t.event} ON ${rollup.source} ${transition(t.event)} FOR EACH STATEMENT EXECUTE FUNCTION ${t.fn}()`);
  }
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${rollup.source}`);
  const sourceRows = Number(rows[0]?.n ?? 0);
  for (const statement of rollup.backfill) await db.query(statement);
  for (const [, statement] of rollup.indexes) await db.query(statement);
  for (const table of rollup.tables) await db.query(`ANALYZE ${table}`);
  if (rollup.view === 'fleet') await db.query(FLEET_VIEW);
  const seconds = (performance.now() - started) / 1000;
  await db.query(
    `INSERT INTO history_rollups (name, definition, backfilled_at, source_rows, seconds) VALUES ($1, $2, now(), $3, $4)
     ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, backfilled_at = excluded.backfilled_at, source_rows = excluded.source_rows, seconds = excluded.seconds`,
    [rollup.name, definitionOf(rollup), sourceRows, seconds],
  );
  return { sourceRows, seconds };
}

/**
 * Makes the rollups of car_telemetry (and of charging_sessions when that table exists) complete,
 * on PostgreSQL without TimescaleDB: those that are already complete are left alone; the others
 * are built and backfilled, each in a transaction of its own (`create: false` builds none and
 * reports what is there). `rawFleetView` is the CREATE OR REPLACE of fleet_telemetry_1h computed
 * from the samples (telemetry-schema.ts), put back while the fleet rollup is rebuilt. `db` must be one connection (a client), not a pool: the transaction is its.
 */
export async function ensureRollups(db: Queryable, log: Logger, opts: { create: boolean; rawFleetView: string }): Promise<RollupResult> {
  const { rows } = await db.query<{ s: string }>('SELECT quote_ident(current_schema()) AS s');
  const schema = rows[0]!.s;
  await db.query(STATE);
  const result: RollupResult = { telemetry: false, stays: false, backfilled: [] };
  for (const rollup of ROLLUPS) {
    if (!(await exists(db, rollup.source))) continue;
    if (!(await complete(db, rollup))) {
      if (!opts.create) continue;
      log.info({ rollup: rollup.name, source: rollup.source, tables: rollup.tables }, `building the rollup of ${rollup.source} from its stored rows (once; writers of ${rollup.source} wait until it is done)`);
      await db.query('BEGIN');
      try {
        // The backfill's aggregate in memory rather than in many small spills.
        await db.query("SET LOCAL work_mem = '256MB'");
        const done = await build(db, rollup, schema, opts.rawFleetView);
        await db.query('COMMIT');
        result.backfilled.push({ rollup: rollup.name, ...done });
        log.info({ rollup: rollup.name, sourceRows: done.sourceRows, seconds: +done.seconds.toFixed(1) }, `rollup of ${rollup.source} built`);
      } catch (error) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
    if (rollup.name === 'telemetry') result.telemetry = true;
    else result.stays = true;
  }
  return result;
}
