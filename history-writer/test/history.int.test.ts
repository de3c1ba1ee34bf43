/**
 * The history writer against the real Kafka and, in turn, PostgreSQL 15 (no TimescaleDB: plain
 * table, views, the hourly rollups kept by triggers, one warning) and the embedded TimescaleDB
 * (hypertable, compression, retention, continuous aggregates, jobs run by the writer since that
 * server has no job scheduler):
 * every telemetry event lands once, duplicates and a full replay by a new group add nothing,
 * distances and times add up to what the fleet drove, malformed events are skipped and counted.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createKafka, createLogger } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { createTopic, freshDatabase, produce, spawnProgram } from '@greenlane/common/testing-programs';
import { generateFleet, metric, startWriter, type Fleet } from './fleet.js';

const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'history-test', log: createLogger('history-test'), quiet: true });

async function query<T extends pg.QueryResultRow>(url: string, schema: string | undefined, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if (schema) await client.query(`SET search_path TO ${schema}, public`);
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * PostgreSQL's rollups against the fleet's totals and the raw rows: per car the samples,
 * distance and charging time; per hour the distinct car-minutes.
 */
async function checkRollups(url: string, fleet: Fleet, what: string): Promise<void> {
  const perCar = await query<{ car_id: string; samples: number; distance_km: number; charging_s: number }>(url, undefined,
    'SELECT car_id, sum(samples)::int AS samples, sum(distance_km) AS distance_km, sum(charging_s) AS charging_s FROM car_telemetry_hourly GROUP BY car_id ORDER BY car_id');
  assert.is(perCar.length, fleet.totals.size, what);
  for (const row of perCar) {
    const want = fleet.totals.get(row.car_id)!;
    assert.is(row.samples, want.samples, `${what}: ${row.car_id} samples`);
    assert.ok(Math.abs(row.distance_km - want.distanceKm) < 1e-6, `${what}: ${row.car_id} distance ${row.distance_km} vs ${want.distanceKm}`);
    assert.ok(Math.abs(row.charging_s - want.chargingS) < 1e-6, `${what}: ${row.car_id} charging ${row.charging_s} vs ${want.chargingS}`);
  }
  const minutes = await query<{ hour: Date; stored: number; raw: number; samples: number; raw_samples: number }>(url, undefined,
    `SELECT f.hour, f.car_minutes::int AS stored, r.car_minutes AS raw, f.samples::int AS samples, r.samples AS raw_samples
     FROM fleet_telemetry_1h f FULL JOIN (
       SELECT date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour,
              count(DISTINCT (car_id, date_trunc('minute', time)))::int AS car_minutes, count(*)::int AS samples
       FROM car_telemetry GROUP BY 1) r USING (hour)`);
  assert.ok(minutes.length > 0, what);
  for (const m of minutes) assert.equal([m.stored, m.samples], [m.raw, m.raw_samples], `${what}: hour ${m.hour?.toISOString()}`);
}

function merge(...fleets: Fleet[]): Fleet {
  return { events: fleets.flatMap((f) => f.events), telemetry: fleets.reduce((n, f) => n + f.telemetry, 0), totals: new Map(fleets.flatMap((f) => [...f.totals])) };
}

const cli = suite('command line');

cli('--help lists the variables; a bad variable stops the writer with exit 2, naming it', async () => {
  const help = spawnProgram('history-writer/dist/src/main.js', {}, ['--help']);
  assert.is(await help.exited, 0);
  for (const name of ['HISTORY_RETENTION_DAYS', 'HISTORY_GROUP_ID', 'DATABASE_URL', 'HISTORY_RUN_JOBS', 'HISTORY_ROLLUPS']) assert.match(help.output(), name);
  const bad = spawnProgram('history-writer/dist/src/main.js', { HISTORY_RETENTION_DAYS: 'forever' });
  assert.is(await bad.exited, 2);
  assert.match(bad.output(), /HISTORY_RETENTION_DAYS=\\"forever\\" is invalid/);
});

cli.run();

for (const [name, kind] of [['postgresql 15', 'postgres'], ['embedded timescaledb', 'embedded']] as const) {
  const db = suite(name);

  db('every telemetry event once, through duplicates and a replay; sums add up; policies and aggregates', async () => {
    const fresh = kind === 'postgres' ? await freshDatabase('history') : undefined;
    const url = fresh?.url ?? testServers.timescaleUrl;
    const schema = kind === 'embedded' ? uniqueName('history').replace(/-/g, '_') : undefined;
    if (schema) await query(url, undefined, `CREATE SCHEMA ${schema}`);
    const topic = uniqueName('history');
    const writers: Array<Awaited<ReturnType<typeof startWriter>>> = [];
    try {
      await createTopic(kafka, topic, 3);
      const now = Date.now();
      const fleet = merge(
        generateFleet({ cars: 6, samples: 40, startMs: now - 2 * 3600_000, prefix: 'NEW' }),
        // Three days old: its chunk is one the compression policy compresses.
        generateFleet({ cars: 2, samples: 20, startMs: now - 3 * 86_400_000, prefix: 'OLD' }),
      );
      const duplicates = fleet.events.filter((e) => e.value.includes('"telemetry"')).slice(0, 30);
      const junk = [{ key: 'X', value: 'not json' }, { key: 'X', value: '{"event_type":"telemetry","car_id":"X"}' }];
      const produced = fleet.events.length + duplicates.length + junk.length;
      await produce(kafka, topic, [...fleet.events, ...duplicates, ...junk]);

      const env = { topic, group: uniqueName('hw'), databaseUrl: url, ...(schema ? { schema } : {}) };
      const writer = await startWriter(env, { HISTORY_RETENTION_DAYS: '7', HISTORY_JOBS_INTERVAL_S: '1' });
      writers.push(writer);
      await waitFor('every event consumed', async () => (await metric(writer.port, 'history_events_consumed_total')) === produced, 90_000, 250);
      const count = async () => Number((await query<{ n: string }>(url, schema, 'SELECT count(*) AS n FROM car_telemetry'))[0]!.n);
      assert.is(await count(), fleet.telemetry);
      assert.is(await metric(writer.port, 'history_rows_inserted_total'), fleet.telemetry);
      assert.is(await metric(writer.port, 'history_rows_duplicate_total'), duplicates.length);
      assert.is(await metric(writer.port, 'history_events_rejected_total'), junk.length);

      const distinct = await query<{ n: string }>(url, schema, 'SELECT count(DISTINCT event_id) AS n FROM car_telemetry');
      assert.is(Number(distinct[0]!.n), fleet.telemetry, 'no event twice');
      const perCar = await query<{ car_id: string; samples: string; interval_s: number; distance_km: number; charging_s: number }>(url, schema,
        `SELECT car_id, count(*) AS samples, sum(interval_s) AS interval_s, sum(distance_km) AS distance_km,
                sum(CASE WHEN charging THEN interval_s ELSE 0 END) AS charging_s
         FROM car_telemetry GROUP BY car_id ORDER BY car_id`);
      assert.is(perCar.length, fleet.totals.size);
      for (const row of perCar) {
        const want = fleet.totals.get(row.car_id)!;
        assert.is(Number(row.samples), want.samples, row.car_id);
        assert.ok(Math.abs(row.interval_s - want.intervalS) < 1e-6, `${row.car_id}: interval ${row.interval_s} vs ${want.intervalS}`);
        assert.ok(Math.abs(row.distance_km - want.distanceKm) < 1e-6, `${row.car_id}: distance ${row.distance_km} vs ${want.distanceKm}`);
        assert.ok(Math.abs(row.charging_s - want.chargingS) < 1e-6, `${row.car_id}: charging ${row.charging_s} vs ${want.chargingS}`);
      }
      const totalKm = [...fleet.totals.values()].reduce((n, t) => n + t.distanceKm, 0);
      const minute = await query<{ km: number; samples: string }>(url, schema, 'SELECT sum(distance_km) AS km, sum(samples) AS samples FROM car_telemetry_1m');
      assert.ok(Math.abs(minute[0]!.km - totalKm) < 1e-6, `car_telemetry_1m: ${minute[0]!.km} km vs ${totalKm}`);
      assert.is(Number(minute[0]!.samples), fleet.telemetry);
      const hour = await query<{ km: number; samples: string }>(url, schema, 'SELECT sum(distance_km) AS km, sum(samples) AS samples FROM fleet_telemetry_1h');
      assert.ok(Math.abs(hour[0]!.km - totalKm) < 1e-6, `fleet_telemetry_1h: ${hour[0]!.km} km vs ${totalKm}`);
      assert.is(Number(hour[0]!.samples), fleet.telemetry);

      if (kind === 'embedded') {
        const hyper = await query(url, schema, "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = $1 AND hypertable_name = 'car_telemetry'", [schema]);
        assert.is(hyper.length, 1);
        const jobs = await query<{ proc_name: string; config: Record<string, string> }>(url, schema,
          "SELECT proc_name, config FROM timescaledb_information.jobs WHERE hypertable_schema = $1 ORDER BY proc_name", [schema]);
        assert.equal(jobs.map((j) => j.proc_name), ['policy_compression', 'policy_refresh_continuous_aggregate', 'policy_refresh_continuous_aggregate', 'policy_retention']);
        assert.is(jobs.find((j) => j.proc_name === 'policy_retention')!.config.drop_after, '7 days');
        // No scheduler on this server: the writer runs the jobs itself; the old chunk gets compressed.
        await waitFor('the writer to run the jobs', async () => (await metric(writer.port, 'history_jobs_run_total', 'outcome="ok"')) >= 4, 60_000, 250);
        const compressed = await query(url, schema, "SELECT 1 FROM timescaledb_information.chunks WHERE hypertable_schema = $1 AND hypertable_name = 'car_telemetry' AND is_compressed", [schema]);
        assert.ok(compressed.length >= 1, 'the three-day-old chunk is compressed');
      } else {
        const warnings = writer.output().split('\n').filter((l) => l.includes('TimescaleDB is not installed'));
        assert.is(warnings.length, 1, 'one warning');
        const views = await query(url, schema, "SELECT table_name FROM information_schema.views WHERE table_name IN ('car_telemetry_1m', 'fleet_telemetry_1h')");
        assert.is(views.length, 2);
        // The hourly rollups, kept by triggers in the writer's transactions: the duplicates counted nothing.
        await checkRollups(url, fleet, 'after the writer');
      }

      writer.signal('SIGTERM');
      assert.is(await writer.exited, 0, writer.output());

      // A new group replays the whole topic (into compressed chunks too): nothing new.
      const replay = await startWriter({ ...env, group: uniqueName('hw-replay') }, { HISTORY_RETENTION_DAYS: '7' });
      writers.push(replay);
      await waitFor('the replay consumed', async () => (await metric(replay.port, 'history_events_consumed_total')) === produced, 90_000, 250);
      assert.is(await metric(replay.port, 'history_rows_inserted_total'), 0);
      assert.is(await metric(replay.port, 'history_rows_duplicate_total'), fleet.telemetry + duplicates.length);
      assert.is(await count(), fleet.telemetry);
      if (kind === 'postgres') await checkRollups(url, fleet, 'after the replay');
      replay.signal('SIGTERM');
      assert.is(await replay.exited, 0, replay.output());
    } finally {
      for (const w of writers) w.signal('SIGKILL');
      await Promise.all(writers.map((w) => w.exited));
      if (schema) await query(url, undefined, `DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await fresh?.drop();
    }
  });

  db.run();
}
