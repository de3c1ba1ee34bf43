/**
 * The saved analyst queries over the history (common/sql/analyst/history-*.sql), run by a real
 * psql with its variables, against a known dataset (src/testing-history.ts) on PostgreSQL 15 and
 * on the embedded TimescaleDB; each answer checked against figures worked out by hand.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLogger, migrate, migrateTelemetry } from '../src/index.js';
import { isolatedSchema, testServers } from '../src/testing.js';
import { EXPECTED, at, insertKnownHistory } from '../src/testing-history.js';
import { ROOT } from '../src/testing-programs.js';

const run = promisify(execFile);
const log = createLogger('analyst-test', { LOG_LEVEL: 'silent' });

/** The query file through psql --csv, with `vars` as -v; rows as objects of strings. */
async function psql(url: string, schema: string, file: string, vars: Record<string, string>): Promise<Array<Record<string, string>>> {
  const args = [url, '-X', '-q', '--csv', '-v', 'ON_ERROR_STOP=1', ...Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`]),
    '-c', `SET search_path TO ${schema}, public`, '-c', "SET TimeZone TO 'UTC'", '-f', join(ROOT, 'common/sql/analyst', file)];
  const { stdout } = await run('psql', args, { timeout: 60_000 });
  const [header, ...lines] = stdout.trim().split('\n').filter((l) => l !== '');
  if (header === undefined) return [];
  const names = header.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [names[i], v])));
}

const close = (a: string | undefined, b: number, what: string) => assert.ok(Math.abs(Number(a) - b) < 1e-6, `${what}: ${a} vs ${b}`);
const iso = (pgText: string | undefined) => new Date(pgText!.replace(' ', 'T').replace(/\+00$/, 'Z')).toISOString();

for (const [name, url] of [['postgresql 15', testServers.postgresUrl], ['embedded timescaledb', testServers.timescaleUrl]] as const) {
  const db = suite(name);
  let ctx: Awaited<ReturnType<typeof isolatedSchema>>;
  db.before(async () => {
    ctx = await isolatedSchema(url);
    await migrate(ctx.client, log);
    await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
    await insertKnownHistory(ctx.client);
  });
  db.after(async () => ctx.drop());
  const range = { from: at(0), to: at(120) };

  db('history-trajectory.sql: every position of one car in the range, oldest first', async () => {
    const rows = await psql(url, ctx.schema, 'history-trajectory.sql', { car: 'CAR-A', ...range });
    assert.is(rows.length, EXPECTED.samplesPerCar);
    assert.is(iso(rows[0]!.time), at(0));
    assert.is(iso(rows.at(-1)!.time), at(89));
    close(rows[0]!.lat, 40.7, 'first latitude');
    close(rows.at(-1)!.lat, 40.7 + 0.0045 * 49, 'last latitude (49 driving minutes)');
    const part = await psql(url, ctx.schema, 'history-trajectory.sql', { car: 'CAR-A', from: at(10), to: at(20) });
    assert.is(part.length, 10, '[from, to)');
    const hostile = await psql(url, ctx.schema, 'history-trajectory.sql', { car: "CAR-A' OR '1'='1", ...range });
    assert.is(hostile.length, 0, 'the car is a quoted literal');
  });

  db('history-low-battery.sql: time below the threshold, not charging, longest first', async () => {
    const rows = await psql(url, ctx.schema, 'history-low-battery.sql', range);
    assert.equal(rows.map((r) => [r.car_id, Number(r.minutes_below)]), EXPECTED.lowBattery.map((e) => [e.car_id, e.minutes]));
    const lower = await psql(url, ctx.schema, 'history-low-battery.sql', { ...range, threshold: '15' });
    // C is below 15 % from i = 51 (25 − 0.2·51 = 14.8): 39 minutes.
    assert.equal(lower.map((r) => [r.car_id, Number(r.minutes_below)]), [['CAR-B', 89], ['CAR-C', 39]]);
  });

  db('history-energy-cost.sql: energy and cost by hour and station', async () => {
    const rows = await psql(url, ctx.schema, 'history-energy-cost.sql', range);
    const want = [...EXPECTED.energyByHour].reverse(); // newest hour first
    assert.equal(rows.map((r) => [iso(r.hour), r.station_id, Number(r.kwh), Number(r.cost), Number(r.stays)]), want.map((e) => [e.hour, e.station_id, e.kwh, e.cost, 1]));
  });

  db('the defaults (a range ending now) run too', async () => {
    for (const file of ['history-trajectory.sql', 'history-low-battery.sql', 'history-energy-cost.sql']) {
      const rows = await psql(url, ctx.schema, file, { car: 'CAR-A' });
      assert.equal(rows, [], `${file}: the known dataset is in January 2020, outside every default range`);
    }
  });

  db.run();
}
