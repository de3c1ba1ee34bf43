/**
 * The history's rollups on PostgreSQL 15 without TimescaleDB (src/db/rollups.ts): after every kind
 * of write (inserts, duplicates that ON CONFLICT skips, late rows, the pricing worker's NaN-then-
 * UPDATE of a late sample, updates, deletes, TRUNCATE) car_telemetry_hourly, fleet_telemetry_hourly
 * and charging_stays hold what the raw rows give, computed here independently; a minute two
 * concurrent transactions both write is one car-minute; an existing history is backfilled once, at
 * the next migration, and again only when its definitions change. On the embedded TimescaleDB none
 * is created (the continuous aggregates do that job).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createLogger, migrate, migrateTelemetry } from '../src/index.js';
import { isolatedSchema, testServers } from '../src/testing.js';
import { HISTORY_START, insertKnownHistory } from '../src/testing-history.js';

const log = createLogger('rollups-test', { LOG_LEVEL: 'silent' });
type Row = Record<string, unknown>;

const EXPECTED_CAR_HOURS = `
SELECT car_id, date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour, count(*)::int AS samples,
       count(DISTINCT date_trunc('minute', time))::int AS minutes, sum(distance_km) AS distance_km,
       sum(CASE WHEN charging THEN interval_s ELSE 0 END) AS charging_s,
       sum(battery) AS battery_sum, min(battery) AS battery_min, max(battery) AS battery_max,
       sum(velocity) AS velocity_sum, min(velocity) AS velocity_min, max(velocity) AS velocity_max,
       sum(lat) AS lat_sum, min(lat) AS lat_min, max(lat) AS lat_max, sum(lon) AS lon_sum, min(lon) AS lon_min, max(lon) AS lon_max
FROM car_telemetry GROUP BY 1, 2 ORDER BY 1, 2`;
const STORED_CAR_HOURS = `
SELECT car_id, hour, samples::int AS samples, bit_count(minutes::bit(64))::int AS minutes, distance_km, charging_s,
       battery_sum, battery_min, battery_max, velocity_sum, velocity_min, velocity_max, lat_sum, lat_min, lat_max, lon_sum, lon_min, lon_max
FROM car_telemetry_hourly ORDER BY 1, 2`;
const EXPECTED_FLEET = `
SELECT date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour,
       count(DISTINCT (car_id, date_trunc('minute', time)))::int AS car_minutes, count(*)::int AS samples, sum(distance_km) AS distance_km,
       avg(velocity) AS avg_speed_kmh, max(velocity) AS max_speed_kmh, min(battery) AS min_battery, sum(CASE WHEN charging THEN interval_s ELSE 0 END) AS charging_s
FROM car_telemetry GROUP BY 1 ORDER BY 1`;
const STORED_FLEET = `
SELECT hour, car_minutes::int AS car_minutes, samples::int AS samples, distance_km, avg_speed_kmh, max_speed_kmh, min_battery, charging_s
FROM fleet_telemetry_1h ORDER BY 1`;
const EXPECTED_STAYS = `
SELECT session_id, station_id, car_id, min(time) AS started, max(time) AS ended, count(*)::int AS samples,
       sum(kwh_usage) AS kwh, sum(kwh_usage * price_rate) AS cost
FROM charging_sessions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;
const STORED_STAYS = 'SELECT session_id, station_id, car_id, started, ended, samples::int AS samples, kwh, cost FROM charging_stays ORDER BY 1, 2, 3';

/** Row by row, column by column; floats to 1e-9 (sums in another order). */
function same(got: Row[], want: Row[], what: string): void {
  assert.is(got.length, want.length, `${what}: ${got.length} rows vs ${want.length}`);
  want.forEach((w, i) => {
    const g = got[i]!;
    for (const [k, v] of Object.entries(w)) {
      const x = g[k];
      if (typeof v === 'number') assert.ok(typeof x === 'number' && Math.abs(x - v) <= 1e-9 * Math.max(1, Math.abs(v)), `${what} row ${i} ${k}: ${String(x)} vs ${v}`);
      else if (v instanceof Date) assert.is((x as Date).getTime(), v.getTime(), `${what} row ${i} ${k}`);
      else assert.is(x, v, `${what} row ${i} ${k}`);
    }
  });
}

async function consistent(client: pg.ClientBase, what: string): Promise<void> {
  same((await client.query(STORED_CAR_HOURS)).rows, (await client.query(EXPECTED_CAR_HOURS)).rows, `${what}: car hours`);
  same((await client.query(STORED_FLEET)).rows, (await client.query(EXPECTED_FLEET)).rows, `${what}: fleet hours`);
  same((await client.query(STORED_STAYS)).rows, (await client.query(EXPECTED_STAYS)).rows, `${what}: stays`);
}

/** Telemetry rows as the history writer inserts them (ON CONFLICT DO NOTHING); resolves with how many were new. */
async function insertSamples(client: pg.ClientBase, rows: Array<{ car: string; minute: number; second?: number; id: string; battery?: number; velocity?: number; km?: number }>): Promise<number> {
  const result = await client.query(
    `INSERT INTO car_telemetry (time, car_id, event_id, lat, lon, battery, velocity, distance_km, interval_s)
     SELECT to_timestamp(($1::float8 + u.ms) / 1000.0), u.car, u.id, 40.7, -73.9, u.battery, u.velocity, u.km, 30
     FROM unnest($2::text[], $3::float8[], $4::text[], $5::float8[], $6::float8[], $7::float8[]) AS u(car, ms, id, battery, velocity, km)
     ON CONFLICT (car_id, time, event_id) DO NOTHING`,
    [HISTORY_START, rows.map((r) => r.car), rows.map((r) => r.minute * 60_000 + (r.second ?? 0) * 1000), rows.map((r) => r.id),
      rows.map((r) => r.battery ?? 60), rows.map((r) => r.velocity ?? 12), rows.map((r) => r.km ?? 0.2)],
  );
  return result.rowCount ?? 0;
}

const pgSuite = suite('postgresql 15');
let ctx: Awaited<ReturnType<typeof isolatedSchema>>;
pgSuite.before.each(async () => {
  ctx = await isolatedSchema(testServers.postgresUrl);
  await ctx.client.query("SET TimeZone TO 'Asia/Kolkata'"); // a half-hour zone: buckets and minutes stay UTC's
  await migrate(ctx.client, log);
});
pgSuite.after.each(async () => ctx.drop());

pgSuite('every kind of write keeps the rollups equal to the raw rows', async () => {
  const schema = await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
  assert.equal([schema.rollups.telemetry, schema.rollups.stays], [true, true]);
  const { client } = ctx;
  await insertKnownHistory(client);
  await consistent(client, 'the known history');

  // A replay adds nothing; a new sample in a minute already counted adds a sample, not a car-minute; a late row in an old hour counts.
  assert.is(await insertSamples(client, [{ car: 'CAR-A', minute: 5, id: 'CAR-A-5' }, { car: 'CAR-A', minute: 6, id: 'CAR-A-6' }]), 0);
  assert.is(await insertSamples(client, [
    { car: 'CAR-A', minute: 5, second: 30, id: 'extra-1', velocity: 95 },
    { car: 'CAR-A', minute: 5, second: 30, id: 'extra-1', velocity: 95 }, // the same event twice in one statement: one row
    { car: 'CAR-D', minute: 200, id: 'new-car', battery: 3 },
    { car: 'CAR-B', minute: -300, id: 'late-old-hour' },
  ]), 3);
  await consistent(client, 'duplicates and late rows');
  const fleet10 = (await client.query('SELECT car_minutes::int AS m, samples::int AS s FROM fleet_telemetry_1h WHERE hour = $1', [new Date(HISTORY_START)])).rows[0];
  assert.equal(fleet10, { m: 180, s: 181 }, 'one more sample, no more car-minutes');

  await client.query("UPDATE car_telemetry SET battery = battery - 40, velocity = 0 WHERE car_id = 'CAR-C' AND time < $1", [new Date(HISTORY_START + 20 * 60_000)]);
  await consistent(client, 'an update');
  await client.query("DELETE FROM car_telemetry WHERE car_id = 'CAR-A' AND time >= $1", [new Date(HISTORY_START + 60 * 60_000)]); // a whole car-hour
  await client.query("DELETE FROM car_telemetry WHERE car_id = 'CAR-C' AND time >= $1 AND time < $2", [new Date(HISTORY_START + 30 * 60_000), new Date(HISTORY_START + 40 * 60_000)]);
  await client.query("DELETE FROM car_telemetry WHERE car_id = 'CAR-D'"); // its only hour: the fleet hour goes too
  await consistent(client, 'deletes');
  assert.is((await client.query("SELECT count(*)::int AS n FROM car_telemetry_hourly WHERE car_id IN ('CAR-D')")).rows[0].n, 0);

  // The pricing worker's late sample: inserted with kwh_usage NaN, its stay recomputed by an UPDATE, in one transaction.
  await client.query('BEGIN');
  await client.query(
    `INSERT INTO charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate, meter_kwh)
     VALUES ($1, 'stay-a', 'ST-1', 'CAR-A', 'NaN', 0.3, 0.2), ($2, 'stay-new', 'ST-3', 'CAR-B', 0.7, 0.5, 0.7)
     ON CONFLICT (session_id, time) DO NOTHING`,
    [new Date(HISTORY_START + 59.5 * 60_000), new Date(HISTORY_START + 100 * 60_000)],
  );
  await client.query("UPDATE charging_sessions SET kwh_usage = 0.2 WHERE session_id = 'stay-a' AND kwh_usage = 'NaN'");
  await client.query('COMMIT');
  await client.query(`INSERT INTO charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate, meter_kwh)
                      SELECT time, session_id, station_id, car_id, kwh_usage, price_rate, meter_kwh FROM charging_sessions ON CONFLICT (session_id, time) DO NOTHING`);
  await consistent(client, 'a late charging sample and a replay');
  await client.query("DELETE FROM charging_sessions WHERE session_id = 'stay-e'");
  await consistent(client, 'a deleted stay');

  await client.query('TRUNCATE car_telemetry, charging_sessions');
  await consistent(client, 'TRUNCATE');
  assert.is((await client.query('SELECT count(*)::int AS n FROM fleet_telemetry_hourly')).rows[0].n, 0);
});

pgSuite('a minute two concurrent transactions both write is one car-minute', async () => {
  await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
  const other = new pg.Client({ connectionString: testServers.postgresUrl });
  await other.connect();
  try {
    await other.query(`SET search_path TO ${ctx.schema}, public`);
    await ctx.client.query('BEGIN');
    await other.query('BEGIN');
    await insertSamples(ctx.client, [{ car: 'CAR-X', minute: 3, id: 'x-1' }]);
    // The second writer's upsert waits for the first's car-hour row, then sees the minute already set.
    const second = insertSamples(other, [{ car: 'CAR-X', minute: 3, second: 20, id: 'x-2' }, { car: 'CAR-X', minute: 4, id: 'x-3' }]);
    await new Promise((r) => setTimeout(r, 300));
    await ctx.client.query('COMMIT');
    assert.is(await second, 2);
    await other.query('COMMIT');
  } finally {
    await other.end();
  }
  const fleet = (await ctx.client.query('SELECT car_minutes::int AS m, samples::int AS s FROM fleet_telemetry_1h')).rows;
  assert.equal(fleet, [{ m: 2, s: 3 }]);
  await consistent(ctx.client, 'concurrent writers');
});

pgSuite('an existing history is backfilled once, at the next migration; again when the definitions change', async () => {
  const before = await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24, rollups: false });
  assert.equal([before.rollups.telemetry, before.rollups.stays], [false, false]);
  assert.is((await ctx.client.query("SELECT to_regclass('car_telemetry_hourly') AS r")).rows[0].r, null);
  await insertKnownHistory(ctx.client);
  const rawFleet = (await ctx.client.query(STORED_FLEET)).rows; // the plain view, computed from the samples

  const first = await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
  assert.equal(first.rollups.backfilled.map((b) => [b.rollup, b.sourceRows]), [['telemetry', 270], ['stays', 90]]);
  const view = (await ctx.client.query("SELECT definition FROM pg_views WHERE viewname = 'fleet_telemetry_1h' AND schemaname = current_schema()")).rows[0].definition as string;
  assert.match(view, 'fleet_telemetry_hourly');
  same((await ctx.client.query(STORED_FLEET)).rows, rawFleet, 'the view reads the same figures from the rollup');
  await consistent(ctx.client, 'backfilled');

  const again = await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
  assert.equal(again.rollups.backfilled, [], 'complete: nothing built at the next start');
  await ctx.client.query("UPDATE history_rollups SET definition = 'older' WHERE name = 'telemetry'");
  const rebuilt = await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
  assert.equal(rebuilt.rollups.backfilled.map((b) => b.rollup), ['telemetry']);
  await insertSamples(ctx.client, [{ car: 'CAR-A', minute: 95, id: 'after-rebuild' }]);
  await consistent(ctx.client, 'rebuilt, then written');
  // A writer started with the rollups off reads and keeps those that are there.
  const off = await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24, rollups: false });
  assert.equal([off.rollups.telemetry, off.rollups.stays, off.rollups.backfilled], [true, true, []]);
});

pgSuite.run();

const embedded = suite('embedded timescaledb');
embedded('no rollups where TimescaleDB is (the continuous aggregates do it)', async () => {
  const e = await isolatedSchema(testServers.timescaleUrl);
  try {
    await migrate(e.client, log);
    const schema = await migrateTelemetry(e.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
    assert.equal([schema.timescale, schema.rollups.telemetry, schema.rollups.stays], [true, false, false]);
    const { rows } = await e.client.query("SELECT to_regclass('car_telemetry_hourly') AS a, to_regclass('charging_stays') AS b, to_regclass('history_rollups') AS c");
    assert.equal(rows[0], { a: null, b: null, c: null });
  } finally {
    await e.drop();
  }
});
embedded.run();
