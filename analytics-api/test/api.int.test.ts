/**
 * The analytics API as a program, on PostgreSQL 15 and on the embedded TimescaleDB, over a known
 * history (common/src/testing-history.ts): each endpoint's answer against figures worked out by
 * hand; operator tokens; clear 400s; hostile values that never reach SQL as text (the data is
 * intact and the server never logs a failed query); a query that would scan too much refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, migrate, migrateTelemetry } from '@greenlane/common';
import { isolatedSchema, testServers } from '@greenlane/common/testing';
import { EXPECTED, at, insertKnownHistory } from '@greenlane/common/testing-history';
import { freePort, spawnProgram, waitReady, type Child } from '@greenlane/common/testing-programs';
import { mintToken, type MintOptions, type SigningKey } from '@greenlane/common/jwt-mint';
import { METRICS } from '../src/params.js';
import { seriesQuery, stationsQuery } from '../src/queries.js';

const TOKEN = 'analytics-test-token';
const log = createLogger('analytics-test', { LOG_LEVEL: 'silent' });

/** An ES256 key published as a JWKS file (as `make certs` writes one), and a key the JWKS does not hold. */
const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { signing: { key: privateKey, alg: 'ES256', kid: 'analytics-test-1' } as SigningKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid: 'analytics-test-1', alg: 'ES256', use: 'sig' } };
};
const issuerKey = keyPair();
const strangerKey = keyPair().signing;
const JWKS = join(mkdtempSync(join(tmpdir(), 'analytics-jwt-')), 'jwks.json');
writeFileSync(JWKS, JSON.stringify({ keys: [issuerKey.jwk] }));
const jwt = (subject: string, scopes: string[], extra: Partial<MintOptions> = {}, key = issuerKey.signing) => mintToken(key, { subject, scopes, ttlSeconds: 600, ...extra });

async function startApi(url: string, schema: string, extra: Record<string, string> = {}): Promise<Child & { base: string }> {
  const port = await freePort();
  const child = spawnProgram('analytics-api/dist/src/main.js', {
    // No rate limit: these tests send hundreds of requests with one token (its own test below sets one).
    DATABASE_URL: url, ANALYTICS_DB_SCHEMA: schema, ANALYTICS_ADDR: `127.0.0.1:${port}`, OPERATOR_TOKENS: `other-token,${TOKEN}`, AUTH_JWKS: JWKS, OPERATOR_RATE: '0', ...extra,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(child, 'analytics API ready', `${base}/ready`);
  return { ...child, base };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function get(base: string, path: string, token: string | null = TOKEN): Promise<{ status: number; body: Json; headers: Headers }> {
  const response = await fetch(base + path, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as Json, headers: response.headers };
}

const near = (a: unknown, b: number, what: string) => assert.ok(typeof a === 'number' && Math.abs(a - b) < 1e-6, `${what}: ${String(a)} vs ${b}`);
const range = `from=${encodeURIComponent(at(0))}&to=${encodeURIComponent(at(120))}`;

const HOSTILE = [
  "CAR-A' OR '1'='1",
  "'; DROP TABLE car_telemetry; --",
  'CAR-A; SELECT pg_sleep(10)',
  '$1',
  '\u0000',
  '%',
  '../../etc/passwd',
  'CAR-A"',
  '🚗',
  'x'.repeat(5000),
];

for (const [name, url] of [['postgresql 15', testServers.postgresUrl], ['embedded timescaledb', testServers.timescaleUrl]] as const) {
  const db = suite(name);
  let ctx: Awaited<ReturnType<typeof isolatedSchema>>;
  let api: Child & { base: string };
  db.before(async () => {
    ctx = await isolatedSchema(url);
    await migrate(ctx.client, log);
    await migrateTelemetry(ctx.client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 });
    await insertKnownHistory(ctx.client);
    await ctx.client.query('ANALYZE car_telemetry');
    await ctx.client.query('ANALYZE charging_sessions');
    api = await startApi(url, ctx.schema);
  });
  db.after(async () => {
    api.signal('SIGTERM');
    assert.is(await api.exited, 0, api.output());
    await ctx.drop();
  });

  db('ops paths and the OpenAPI document need no token; the API does', async () => {
    for (const path of ['/health', '/ready', '/openapi.json']) assert.is((await get(api.base, path, null)).status, 200, path);
    assert.match(await (await fetch(`${api.base}/metrics`)).text(), /analytics_request_duration_seconds/);
    const missing = await get(api.base, `/api/v1/fleet/summary?${range}`, null);
    assert.is(missing.status, 401);
    assert.match(missing.body.message, /Bearer/);
    assert.is((await get(api.base, `/api/v1/fleet/summary?${range}`, 'wrong-token')).status, 401);
    assert.is((await get(api.base, `/api/v1/fleet/summary?${range}&token=${TOKEN}`, null)).status, 200, 'the token in the query');
    assert.is((await get(api.base, '/api/v1/nothing')).status, 404);
    assert.is((await fetch(`${api.base}/api/v1/fleet/summary`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 405);
  });

  db('JWTs: operator:read queries; operator:command alone, a vehicle token 403; expired, wrong-key, wrong-audience 401 saying why', async () => {
    const path = `/api/v1/fleet/summary?${range}`;
    const reader = await get(api.base, path, await jwt('analyst', ['operator:read']));
    assert.is(reader.status, 200, JSON.stringify(reader.body));
    assert.is(reader.body.hours.length, EXPECTED.fleet.length);
    const commander = await get(api.base, path, await jwt('dispatcher', ['operator:command']));
    assert.equal([commander.status, commander.body.error, commander.body.reason], [403, 'forbidden', 'insufficient_scope']);
    assert.match(commander.headers.get('www-authenticate')!, /error="insufficient_scope", scope="operator:read"/);
    const vehicle = await get(api.base, path, await jwt('CAR-A', ['vehicle']));
    assert.equal([vehicle.status, vehicle.body.reason], [403, 'vehicle_token']);
    assert.match(vehicle.body.message, /vehicle token/);
    const bad: Array<[string, string, RegExp]> = [
      [await jwt('analyst', ['operator:read'], { ttlSeconds: -120 }), 'token_expired', /expired/],
      [await jwt('analyst', ['operator:read'], {}, strangerKey), 'token_signature', /signature/],
      [await jwt('analyst', ['operator:read'], { audience: 'not-greenlane' }), 'token_claims', /aud/],
    ];
    for (const [token, reason, why] of bad) {
      const r = await get(api.base, path, token);
      assert.equal([r.status, r.body.error, r.body.reason], [401, 'unauthorized', reason]);
      assert.match(r.body.message, why);
      assert.match(r.headers.get('www-authenticate')!, /^Bearer realm="greenlane-analytics", error="invalid_token", error_description="/);
    }
    assert.is((await get(api.base, path)).status, 200, 'the static token still works');
  });

  db('a rate per identity: over its burst a token gets 429 with Retry-After, another keeps its 200s', async () => {
    if (name !== 'postgresql 15') return; // the check is the same whatever the database: once is enough
    // One token every 10 s: none comes back while the burst is spent, however slow the first queries.
    const limited = await startApi(url, ctx.schema, { OPERATOR_RATE: '0.1', OPERATOR_BURST: '2' });
    try {
      const path = `/api/v1/cars/CAR-A/stays?${range}`;
      const ana = await jwt('analyst-limited', ['operator:read']);
      for (let i = 0; i < 2; i++) assert.is((await get(limited.base, path, ana)).status, 200, `request ${i}`);
      const over = await get(limited.base, path, ana);
      assert.equal([over.status, over.body.error], [429, 'rate_limited']);
      assert.match(over.body.message, /at most 0\.1\/s/);
      assert.ok(Number(over.headers.get('retry-after')) >= 1);
      assert.is((await get(limited.base, path, await jwt('analyst-other', ['operator:read']))).status, 200);
      assert.is((await get(limited.base, path)).status, 200, 'the static token has its own bucket');
      assert.match(await (await fetch(`${limited.base}/metrics`)).text(), /analytics_api_http_rate_limited_total\{route="\/api\/v1\/cars\/\{car_id\}\/stays"\} 1\b/);
    } finally {
      limited.signal('SIGTERM');
      await limited.exited;
    }
  });

  db('series: a metric per bucket over the range', async () => {
    const battery = await get(api.base, `/api/v1/cars/CAR-A/series?metric=battery&bucket=30m&${range}`);
    assert.is(battery.status, 200, JSON.stringify(battery.body));
    assert.is(battery.body.unit, '%');
    assert.is(battery.body.points.length, EXPECTED.batteryA30m.length);
    EXPECTED.batteryA30m.forEach((want, i) => {
      const got = battery.body.points[i];
      assert.is(got.time, want.time);
      assert.is(got.samples, want.samples);
      near(got.value, want.value, `value ${i}`);
      near(got.min, want.min, `min ${i}`);
      near(got.max, want.max, `max ${i}`);
    });
    const distance = await get(api.base, `/api/v1/cars/CAR-A/series?metric=distance&bucket=1h&${range}`);
    assert.equal(distance.body.points.map((p: Json) => [p.time, p.value, p.min]), [[at(0), 24.5, null], [at(60), 0, null]]);
    const charging = await get(api.base, `/api/v1/cars/CAR-A/series?metric=charging_time&bucket=1h&${range}`);
    assert.equal(charging.body.points.map((p: Json) => p.value), [0, 1800]);
    const auto = await get(api.base, `/api/v1/cars/CAR-A/series?metric=velocity&${range}`);
    assert.is(auto.body.bucket, '1m');
    assert.is(auto.body.points.length, 90);
    const nobody = await get(api.base, `/api/v1/cars/CAR-Z/series?metric=battery&${range}`);
    assert.equal([nobody.status, nobody.body.points], [200, []]);
  });

  db('series in whole hours (on PostgreSQL, from the hourly rollup and the raw partial hours) answer what the raw rows give', async () => {
    const ranges: Array<[number, number]> = [[0, 120], [-30, 75], [15, 105], [-90, 150]];
    for (const metric of Object.keys(METRICS)) {
      for (const [from, to] of ranges) {
        for (const [bucket, seconds] of [['1h', 3600], ['2h', 7200]] as const) {
          for (const car of ['CAR-A', 'CAR-C']) {
            const { status, body } = await get(api.base, `/api/v1/cars/${car}/series?metric=${metric}&bucket=${bucket}&from=${encodeURIComponent(at(from))}&to=${encodeURIComponent(at(to))}`);
            assert.is(status, 200, JSON.stringify(body));
            const raw = seriesQuery(car, METRICS[metric]!, seconds, { from: new Date(at(from)), to: new Date(at(to)), seconds: (to - from) * 60 }, 2000);
            const want = (await ctx.client.query(raw.text, raw.values)).rows;
            const what = `${car} ${metric} ${bucket} [${from}, ${to})`;
            assert.is(body.points.length, want.length, what);
            want.forEach((w: Json, i: number) => {
              const got = body.points[i];
              assert.equal([got.time, got.samples], [w.time.toISOString(), w.samples], what);
              for (const k of ['value', 'min', 'max']) {
                if (w[k] === null) assert.is(got[k], null, `${what} ${k}`);
                else near(got[k], w[k], `${what} point ${i} ${k}`);
              }
            });
          }
        }
      }
    }
  });

  db('trips, with distance and battery used', async () => {
    const { status, body } = await get(api.base, `/api/v1/cars/CAR-A/trips?${range}`);
    assert.is(status, 200, JSON.stringify(body));
    assert.is(body.truncated, false);
    assert.is(body.trips.length, 2);
    EXPECTED.tripsA.forEach((want, i) => {
      const got = body.trips[i];
      assert.equal([got.started, got.ended, got.samples], [want.started, want.ended, want.samples], `trip ${i}`);
      near(got.distance_km, want.distance_km, `trip ${i} distance`);
      near(got.battery_used, want.start_battery - want.end_battery, `trip ${i} battery used`);
      near(got.avg_speed_kmh, 30, `trip ${i} speed`);
    });
    assert.is((await get(api.base, `/api/v1/cars/CAR-B/trips?${range}`)).body.trips.length, 0, 'a parked car makes no trip');
  });

  db('charging stays with energy and cost', async () => {
    const { body } = await get(api.base, `/api/v1/cars/CAR-A/stays?${range}`);
    assert.is(body.stays.length, 1);
    const [got] = body.stays;
    const [want] = EXPECTED.stays['CAR-A'];
    assert.equal([got.session_id, got.station_id, got.started, got.ended, got.samples], [want!.session_id, want!.station_id, want!.started, want!.ended, want!.samples]);
    near(got.kwh, want!.kwh, 'kwh');
    near(got.cost, want!.cost, 'cost');
    near(got.avg_price_per_kwh, 0.3, 'price');
  });

  db('station utilization, all stations and one', async () => {
    const { body } = await get(api.base, `/api/v1/stations/utilization?${range}`);
    assert.is(body.stations.length, EXPECTED.stations.length);
    EXPECTED.stations.forEach((want, i) => {
      const got = body.stations[i];
      assert.equal([got.station_id, got.stays, got.cars, got.samples], [want.station_id, want.stays, want.cars, want.samples]);
      for (const k of ['kwh', 'cost', 'charging_hours', 'avg_cars_charging'] as const) near(got[k], want[k], `${want.station_id} ${k}`);
    });
    const one = await get(api.base, `/api/v1/stations/utilization?${range}&station_id=ST-2`);
    assert.equal(one.body.stations.map((s: Json) => s.station_id), ['ST-2']);
  });

  db('station utilization over a range that cuts stays counts only their samples inside it', async () => {
    // [30, 75): stay-e's minutes 30-59 at ST-2, stay-a's minutes 60-74 at ST-1.
    const cut = await get(api.base, `/api/v1/stations/utilization?from=${encodeURIComponent(at(30))}&to=${encodeURIComponent(at(75))}`);
    assert.is(cut.status, 200, JSON.stringify(cut.body));
    const want = [
      { station_id: 'ST-1', stays: 1, cars: 1, samples: 15, kwh: 7.5, cost: 2.25, charging_hours: 14 / 60, avg_cars_charging: (14 * 60) / 2700 },
      { station_id: 'ST-2', stays: 1, cars: 1, samples: 30, kwh: 7.5, cost: 1.5, charging_hours: 29 / 60, avg_cars_charging: (29 * 60) / 2700 },
    ];
    assert.is(cut.body.stations.length, 2);
    want.forEach((w, i) => {
      const got = cut.body.stations[i];
      assert.equal([got.station_id, got.stays, got.cars, got.samples], [w.station_id, w.stays, w.cars, w.samples]);
      for (const k of ['kwh', 'cost', 'charging_hours', 'avg_cars_charging'] as const) near(got[k], w[k], `${w.station_id} ${k}`);
    });
    // And every other cut as the raw query over the samples computes it.
    for (const [from, to, station] of [[0, 60, undefined], [59, 61, undefined], [61, 89, 'ST-1'], [-10, 200, 'ST-2'], [90, 100, undefined], [70, 120, undefined]] as Array<[number, number, string | undefined]>) {
      const r = { from: new Date(at(from)), to: new Date(at(to)), seconds: (to - from) * 60 };
      const raw = stationsQuery(r, station, 5000);
      const rows = (await ctx.client.query(raw.text, raw.values)).rows;
      const { body } = await get(api.base, `/api/v1/stations/utilization?from=${encodeURIComponent(at(from))}&to=${encodeURIComponent(at(to))}${station ? `&station_id=${station}` : ''}`);
      assert.is(body.stations.length, rows.length, `[${from}, ${to}) ${station ?? ''}`);
      rows.forEach((w: Json, i: number) => {
        const got = body.stations[i];
        assert.equal([got.station_id, got.stays, got.cars, got.samples], [w.station_id, w.stays, w.cars, w.samples], `[${from}, ${to})`);
        for (const k of ['kwh', 'cost', 'charging_hours', 'avg_cars_charging']) near(got[k], Number(w[k]), `[${from}, ${to}) ${w.station_id} ${k}`);
      });
    }
  });

  db('fleet summary per hour', async () => {
    const { status, body } = await get(api.base, `/api/v1/fleet/summary?${range}`);
    assert.is(status, 200, JSON.stringify(body));
    assert.is(body.hours.length, EXPECTED.fleet.length);
    EXPECTED.fleet.forEach((want, i) => {
      const got = body.hours[i];
      assert.equal([got.hour, got.car_minutes, got.samples], [want.hour, want.car_minutes, want.samples]);
      for (const k of ['distance_km', 'max_speed_kmh', 'min_battery', 'avg_speed_kmh', 'charging_hours'] as const) near(got[k], want[k], `hour ${i} ${k}`);
    });
  });

  db('clear 400s naming the parameter', async () => {
    const cases: Array<[string, string, string]> = [
      [`/api/v1/cars/CAR-A/series?metric=speed&${range}`, 'metric', 'unknown_metric'],
      [`/api/v1/cars/CAR-A/series?${range}`, 'metric', 'bad_request'],
      [`/api/v1/cars/CAR-A/series?metric=battery&bucket=1s&from=2020-01-01&to=2020-01-08`, 'bucket', 'bucket_too_small'],
      [`/api/v1/cars/CAR-A/series?metric=battery&bucket=fortnight&${range}`, 'bucket', 'bad_request'],
      [`/api/v1/fleet/summary?from=2020-01-01&to=2020-03-01`, 'to', 'range_too_long'],
      [`/api/v1/fleet/summary?from=yesterday`, 'from', 'bad_request'],
      [`/api/v1/fleet/summary?from=2020-01-06T10:00:00&to=2020-01-07`, 'from', 'bad_request'],
      [`/api/v1/fleet/summary?from=2020-01-07&to=2020-01-06`, 'from', 'bad_request'],
      [`/api/v1/fleet/summary?${range}&limit=1000000`, 'limit', 'bad_request'],
      [`/api/v1/fleet/summary?${range}&from=2020-01-01`, 'from', 'bad_request'],
      [`/api/v1/stations/utilization?${range}&station_id=ST%201`, 'station_id', 'bad_request'],
    ];
    for (const [path, parameter, error] of cases) {
      const { status, body } = await get(api.base, path);
      assert.equal([status, body.parameter, body.error], [400, parameter, error], `${path}: ${JSON.stringify(body)}`);
      assert.type(body.message, 'string');
    }
  });

  db('hostile values are refused before SQL, the data stays, no query fails', async () => {
    const before = await ctx.client.query('SELECT count(*)::int AS n FROM car_telemetry');
    for (const value of HOSTILE) {
      const v = encodeURIComponent(value);
      const paths = [
        `/api/v1/cars/${v}/series?metric=battery&${range}`,
        `/api/v1/cars/CAR-A/series?metric=${v}&${range}`,
        `/api/v1/cars/CAR-A/series?metric=battery&bucket=${v}&${range}`,
        `/api/v1/cars/${v}/trips?from=${v}`,
        `/api/v1/cars/CAR-A/stays?to=${v}`,
        `/api/v1/stations/utilization?${range}&station_id=${v}`,
        `/api/v1/fleet/summary?${range}&${v}=1`,
      ];
      for (const path of paths) {
        const { status, body } = await get(api.base, path);
        assert.ok(status === 400 || status === 404, `${path}: ${status} ${JSON.stringify(body).slice(0, 200)}`);
      }
    }
    const after = await ctx.client.query('SELECT count(*)::int AS n FROM car_telemetry');
    assert.is(after.rows[0].n, before.rows[0].n);
    assert.is(after.rows[0].n, 3 * EXPECTED.samplesPerCar);
    assert.not.match(api.output(), /query failed|request failed/);
  });

  db('a query that would scan too much is refused, not run; a narrower one runs', async () => {
    // Two weeks of one more car, a sample a minute, a month after the known history (20,160 rows):
    // a fleet summary over them reads them all; ten minutes of CAR-A, about ten rows.
    await ctx.client.query(
      `INSERT INTO car_telemetry (time, car_id, event_id, lat, lon, battery, velocity)
       SELECT TIMESTAMPTZ '2020-02-01 00:00:00+00' + g * INTERVAL '1 minute', 'CAR-FILL', 'fill-' || g, 40.7, -73.9, 50, 10
       FROM generate_series(0, 20159) g`,
    );
    await ctx.client.query('ANALYZE car_telemetry');
    const strict = await startApi(url, ctx.schema, { ANALYTICS_MAX_SCAN_ROWS: '5000' });
    try {
      // On PostgreSQL the fleet summary reads the hourly rollup (cheap): the trips read every sample.
      const wide = await get(strict.base, name === 'postgresql 15' ? '/api/v1/cars/CAR-FILL/trips?from=2020-02-01&to=2020-02-15' : '/api/v1/fleet/summary?from=2020-02-01&to=2020-02-15');
      assert.is(wide.status, 400, JSON.stringify(wide.body).slice(0, 500));
      assert.is(wide.body.error, 'too_much_data');
      assert.ok(wide.body.estimatedRows > 5000, JSON.stringify(wide.body).slice(0, 500));
      const narrow = await get(strict.base, `/api/v1/cars/CAR-A/series?metric=battery&from=${encodeURIComponent(at(0))}&to=${encodeURIComponent(at(10))}`);
      assert.is(narrow.status, 200, JSON.stringify(narrow.body));
      assert.is(narrow.body.points.length, 10);
      assert.match(await (await fetch(`${strict.base}/metrics`)).text(), /analytics_requests_refused_total\{reason="too_much_data"\} 1/);
      if (name === 'embedded timescaledb') {
        // Once the aggregates are refreshed, the same summary reads their materialized hours: it runs.
        await ctx.client.query("CALL refresh_continuous_aggregate('car_telemetry_1m', NULL, NULL)");
        await ctx.client.query("CALL refresh_continuous_aggregate('fleet_telemetry_1h', NULL, NULL)");
        const refreshed = await get(strict.base, '/api/v1/fleet/summary?from=2020-02-01&to=2020-02-15');
        assert.is(refreshed.status, 200, JSON.stringify(refreshed.body).slice(0, 500));
        assert.is(refreshed.body.hours.length, 14 * 24);
        assert.ok(refreshed.body.hours.every((h: Json) => h.samples === 60 && h.car_minutes === 60));
      } else {
        // The rollups, kept by the inserts' triggers: 336 hours read, not 20,160 samples.
        await ctx.client.query('ANALYZE fleet_telemetry_hourly');
        await ctx.client.query('ANALYZE car_telemetry_hourly');
        const fleet = await get(strict.base, '/api/v1/fleet/summary?from=2020-02-01&to=2020-02-15');
        assert.is(fleet.status, 200, JSON.stringify(fleet.body).slice(0, 500));
        assert.is(fleet.body.hours.length, 14 * 24);
        assert.ok(fleet.body.hours.every((h: Json) => h.samples === 60 && h.car_minutes === 60 && h.avg_speed_kmh === 10));
        const series = await get(strict.base, '/api/v1/cars/CAR-FILL/series?metric=velocity&bucket=1h&from=2020-02-01&to=2020-02-15');
        assert.is(series.status, 200, JSON.stringify(series.body).slice(0, 500));
        assert.is(series.body.points.length, 14 * 24);
      }
    } finally {
      strict.signal('SIGTERM');
      await strict.exited;
    }
  });

  db.run();
}

const cli = suite('command line');
cli('--help lists the variables; a bad variable stops the API with exit 2, naming it', async () => {
  const help = spawnProgram('analytics-api/dist/src/main.js', {}, ['--help']);
  assert.is(await help.exited, 0);
  for (const v of ['OPERATOR_TOKENS', 'AUTH_JWKS', 'OPERATOR_RATE', 'OPERATOR_BURST', 'ANALYTICS_MAX_SCAN_ROWS', 'ANALYTICS_ADDR']) assert.match(help.output(), v);
  const burst = spawnProgram('analytics-api/dist/src/main.js', { OPERATOR_BURST: '0' });
  assert.is(await burst.exited, 2);
  assert.match(burst.output(), /"variable":"OPERATOR_BURST"/);
  const bad = spawnProgram('analytics-api/dist/src/main.js', { ANALYTICS_MAX_POINTS: 'lots' });
  assert.is(await bad.exited, 2);
  assert.match(bad.output(), /ANALYTICS_MAX_POINTS=\\"lots\\" is invalid/);
});
cli.run();
