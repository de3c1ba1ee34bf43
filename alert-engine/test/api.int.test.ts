/**
 * The program and its API against the real servers: --help and a bad variable; the embedded
 * TimescaleDB's hypertable; presence read from `presence:{car_id}` hashes (and their absence);
 * one car's view; every refusal of bad input, counted by reason; a clean SIGTERM.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { testServers } from '@greenlane/common/testing';
import { createTopic, spawnProgram } from '@greenlane/common/testing-programs';
import { telemetry } from './helpers.js';
import { api, dropPrefix, JWKS, jwt, kafka, metric, redisDb13, send, startEngine, strangerKey, TOKEN, uniqueName, waitFor, type Engine } from './servers.js';

const cli = suite('command line');

cli('--help lists the variables; a bad variable stops the engine with exit 2, naming it', async () => {
  const help = spawnProgram('alert-engine/dist/src/main.js', {}, ['--help']);
  assert.is(await help.exited, 0);
  for (const name of ['ALERT_OVERSPEED_KMH', 'ALERT_OVERSPEED_SECONDS', 'ALERT_STALL_MINUTES', 'ALERT_SERVICE_AREA_FILE', 'FLEET_ALERTS_TOPIC', 'OPERATOR_TOKENS', 'AUTH_JWKS', 'OPERATOR_RATE', 'OPERATOR_BURST']) assert.match(help.output(), name);
  const rate = spawnProgram('alert-engine/dist/src/main.js', { OPERATOR_RATE: 'fast' });
  assert.is(await rate.exited, 2);
  assert.match(rate.output(), /"variable":"OPERATOR_RATE"/);
  const bad = spawnProgram('alert-engine/dist/src/main.js', { ALERT_OVERSPEED_SECONDS: 'ten' });
  assert.is(await bad.exited, 2);
  // pino writes JSON: the quotes around the value are escaped.
  assert.match(bad.output(), /ALERT_OVERSPEED_SECONDS=\\"ten\\" is invalid/);
  assert.match(bad.output(), /"variable":"ALERT_OVERSPEED_SECONDS"/);
  const area = spawnProgram('alert-engine/dist/src/main.js', { ALERT_SERVICE_AREA_FILE: '/nonexistent/area.geojson' });
  assert.is(await area.exited, 2);
  assert.match(area.output(), /"variable":"ALERT_SERVICE_AREA_FILE"/);
});

cli.run();

const service = suite('API and presence (embedded TimescaleDB)');
const ctx: { engine?: Engine; prefix: string; presence: string; schema: string; topic: string } = {
  prefix: `${uniqueName('alert-api')}:`, presence: `${uniqueName('presence')}:`, schema: uniqueName('alerts').replace(/-/g, '_'), topic: uniqueName('alert-api-events'),
};

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: testServers.timescaleUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

service.before(async () => {
  await sql(`CREATE SCHEMA ${ctx.schema}`);
  await createTopic(kafka, ctx.topic, 2);
  ctx.engine = await startEngine({
    FLEET_EVENTS_TOPIC: ctx.topic, FLEET_ALERTS_TOPIC: `${ctx.topic}-alerts`, ALERT_GROUP_ID: uniqueName('alert-api'), ALERT_REDIS_PREFIX: ctx.prefix,
    PRESENCE_PREFIX: ctx.presence, DATABASE_URL: testServers.timescaleUrl, ALERT_DB_SCHEMA: ctx.schema, AUTH_JWKS: JWKS,
  });
});

service.after(async () => {
  ctx.engine?.signal('SIGKILL');
  await ctx.engine?.exited;
  await dropPrefix(ctx.prefix);
  await dropPrefix(ctx.presence);
  await sql(`DROP SCHEMA IF EXISTS ${ctx.schema} CASCADE`).catch(() => undefined);
});

service('fleet_alerts is a hypertable on TimescaleDB, and an alert lands in it', async () => {
  const hyper = await sql("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = $1 AND hypertable_name = 'fleet_alerts'", [ctx.schema]);
  assert.is(hyper.length, 1);
  await send(ctx.topic, [telemetry('API-1', 0, { battery: 12 })]);
  const rows = await waitFor('the alert row', async () => {
    const r = await sql<{ rule: string; severity: string; transition: string; values: { battery: number } }>(`SELECT rule, severity, transition, values FROM ${ctx.schema}.fleet_alerts`);
    return r.length > 0 ? r : undefined;
  });
  assert.equal(rows.map((r) => [r.rule, r.severity, r.transition, r.values.battery]), [['battery_low', 'critical', 'raised', 12]]);
});

service('cars by presence: none while nobody keeps presence, then from the presence hashes', async () => {
  const engine = ctx.engine!;
  assert.equal((await api(engine, '/v1/cars?status=offline')).body, { status: 'offline', total: 0, cars: [] });
  const redis = await redisDb13();
  try {
    await redis.hSet(`${ctx.presence}CAR-A`, { state: 'online', since: '1000', last_seen: '5000', instance: 'ing-1', reason: 'telemetry' });
    await redis.hSet(`${ctx.presence}CAR-B`, { state: 'offline', since: '2000', last_seen: '1900', instance: 'ing-2', reason: 'timeout' });
    await redis.hSet(`${ctx.presence}CAR-C`, { state: 'offline', since: '3000', last_seen: '2900', instance: 'ing-2', reason: 'instance lost' });
    // Not a car's presence: skipped, not an error.
    await redis.set(`${ctx.presence}lease:ing-2`, 'x');
  } finally {
    await redis.quit();
  }
  const offline = await api(engine, '/v1/cars?status=offline');
  assert.equal(offline.body, {
    status: 'offline', total: 2,
    cars: [
      { car_id: 'CAR-B', state: 'offline', since: 2000, last_seen: 1900, instance: 'ing-2', reason: 'timeout' },
      { car_id: 'CAR-C', state: 'offline', since: 3000, last_seen: 2900, instance: 'ing-2', reason: 'instance lost' },
    ],
  });
  assert.equal((await api(engine, '/v1/cars?status=online')).body.cars.map((c: { car_id: string }) => c.car_id), ['CAR-A']);
  const all = await api(engine, '/v1/cars?limit=1');
  assert.equal([all.body.total, all.body.cars.length], [3, 1]);
  const car = await api(engine, '/v1/cars/CAR-B');
  assert.is(car.status, 200);
  assert.equal(car.body.presence, { car_id: 'CAR-B', state: 'offline', since: 2000, last_seen: 1900, instance: 'ing-2', reason: 'timeout' });
  assert.equal(car.body.alerts, []);
});

service('one car: its open alerts and its alert history', async () => {
  const engine = ctx.engine!;
  const car = await api(engine, '/v1/cars/API-1');
  assert.is(car.status, 200);
  assert.is(car.body.presence, null);
  assert.equal(car.body.alerts.map((a: { rule: string }) => a.rule), ['battery_low']);
  const history = await api(engine, '/v1/cars/API-1/alerts');
  assert.equal(history.body.alerts.map((a: { alert_id: string }) => a.alert_id), [car.body.alerts[0].alert_id]);
  assert.equal((await api(engine, '/v1/alerts?car_id=API-1&severity=critical')).body.total, 1);
  assert.equal((await api(engine, '/v1/alerts?car_id=API-1&severity=warning')).body.total, 0);
  assert.equal((await api(engine, '/v1/alerts?rule=overspeed')).body.total, 0);
});

service('bad input is refused with its reason, and counted', async () => {
  const engine = ctx.engine!;
  const cases: Array<[string, RequestInit & { token?: string | null }, number, string]> = [
    ['/v1/alerts', { token: null }, 401, 'token_missing'],
    ['/v1/alerts', { token: 'greenlane-secret-token' }, 401, 'token_wrong'],
    ['/v1/alerts?rule=speeding', {}, 400, 'bad_parameter'],
    ['/v1/alerts?severity=major', {}, 400, 'bad_parameter'],
    ['/v1/alerts?status=gone', {}, 400, 'bad_parameter'],
    ['/v1/alerts?limit=0', {}, 400, 'bad_parameter'],
    ['/v1/alerts?carid=API-1', {}, 400, 'bad_parameter'],
    ['/v1/alerts?car_id=no%20spaces', {}, 400, 'bad_id'],
    ['/v1/cars?status=asleep', {}, 400, 'bad_parameter'],
    ['/v1/cars/%E0%A4%A', {}, 400, 'bad_id'],
    ['/v1/cars/NOBODY', {}, 404, 'unknown_car'],
    ['/v1/alerts/NOBODY.overspeed.1', {}, 404, 'unknown_alert'],
    ['/v1/alerts/NOBODY.overspeed.1/ack', { method: 'POST' }, 404, 'unknown_alert'],
    ['/v1/alerts/API-1.battery_low.1/ack', { method: 'POST', body: '{nope' }, 400, 'bad_json'],
    ['/v1/alerts/API-1.battery_low.1/ack', { method: 'POST', body: '{"operator":"ana","severity":"low"}' }, 400, 'bad_body'],
    ['/v1/alerts/API-1.battery_low.1/ack', { method: 'POST', body: JSON.stringify({ note: 'x'.repeat(5000) }) }, 413, 'too_large'],
    ['/v1/alerts/API-1.battery_low.1/ack', { method: 'GET' }, 405, 'method'],
    ['/v1/alerts', { method: 'DELETE' }, 405, 'method'],
    ['/v2/alerts', {}, 404, 'not_found'],
  ];
  for (const [path, init, status, reason] of cases) {
    const answer = await api(engine, path, init);
    assert.is(answer.status, status, `${init.method ?? 'GET'} ${path}: ${JSON.stringify(answer.body)}`);
    assert.is(answer.body.error, reason, path);
    assert.type(answer.body.message, 'string');
  }
  for (const reason of new Set(cases.map((c) => c[3]))) {
    assert.is(await metric(engine.port, 'alert_api_refused_total', `reason="${reason}"`), cases.filter((c) => c[3] === reason).length, reason);
  }
  const doc = await fetch(`${engine.url}/openapi.json`);
  assert.is(doc.status, 200, 'the document needs no token');
  assert.match((await doc.json() as { openapi: string }).openapi, /^3\./);
});

service('JWTs: operator:read lists but cannot acknowledge, operator:command acknowledges but cannot list; a vehicle token 403; bad JWTs 401 saying why', async () => {
  const engine = ctx.engine!;
  const reader = await jwt('ana', ['operator:read']);
  const commander = await jwt('bo', ['operator:command']);
  const ack = { method: 'POST', body: '{"operator":"bo"}' };
  assert.is((await api(engine, '/v1/alerts', { token: reader })).status, 200);
  const denied = await api(engine, '/v1/alerts/NOBODY.overspeed.1/ack', { ...ack, token: reader });
  assert.equal([denied.status, denied.body.error], [403, 'insufficient_scope']);
  assert.match(denied.body.message, /needs the scope operator:command/);
  assert.match(denied.headers.get('www-authenticate')!, /error="insufficient_scope", scope="operator:command"/);
  // Past the check: the alert does not exist.
  assert.equal((await api(engine, '/v1/alerts/NOBODY.overspeed.1/ack', { ...ack, token: commander })).body.error, 'unknown_alert');
  assert.equal((await api(engine, '/v1/alerts', { token: commander })).status, 403, 'operator:command does not imply operator:read');
  const vehicle = await jwt('CAR-001', ['vehicle']);
  for (const [path, init] of [['/v1/alerts', {}], ['/v1/cars?status=offline', {}], ['/v1/alerts/NOBODY.overspeed.1/ack', ack]] as const) {
    const r = await api(engine, path, { ...init, token: vehicle });
    assert.equal([r.status, r.body.error], [403, 'vehicle_token'], path);
  }
  const bad: Array<[string, string, RegExp]> = [
    [await jwt('ana', ['operator:read'], { ttlSeconds: -120 }), 'token_expired', /expired/],
    [await jwt('ana', ['operator:read'], {}, strangerKey), 'token_signature', /signature/],
    [await jwt('ana', ['operator:read'], { audience: 'another-api' }), 'token_claims', /aud/],
  ];
  for (const [token, reason, why] of bad) {
    const r = await api(engine, '/v1/alerts', { token });
    assert.equal([r.status, r.body.error], [401, reason]);
    assert.match(r.body.message, why);
    assert.match(r.headers.get('www-authenticate')!, /^Bearer realm="greenlane-alerts", error="invalid_token", error_description="/);
  }
  assert.is((await api(engine, '/v1/alerts', { token: TOKEN })).status, 200, 'the static token still works');
});

service('the default rate (20/s, bursts of 40) per identity: one flooding token gets 429 with Retry-After, the others keep their 200s', async () => {
  const engine = ctx.engine!;
  const flood = await jwt('flooder', ['operator:read']);
  const answers = await Promise.all(Array.from({ length: 70 }, () => api(engine, '/v1/cars?limit=1', { token: flood })));
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(limited.length >= 1, `429s: ${limited.length}`);
  assert.ok(answers.filter((a) => a.status === 200).length >= 40, 'the burst went through');
  assert.is(limited[0]!.body.error, 'rate_limited');
  assert.match(limited[0]!.body.message, /too many requests from flooder/);
  assert.ok(Number(limited[0]!.headers.get('retry-after')) >= 1);
  assert.is((await api(engine, '/v1/cars?limit=1', { token: await jwt('calm', ['operator:read']) })).status, 200);
  assert.is((await api(engine, '/v1/cars?limit=1', { token: TOKEN })).status, 200);
  assert.is(await metric(engine.port, 'alert_engine_http_rate_limited_total', 'route="cars"'), limited.length);
});

service('SIGTERM stops it cleanly (exit 0)', async () => {
  const engine = ctx.engine!;
  engine.signal('SIGTERM');
  assert.is(await engine.exited, 0, engine.output());
  assert.match(engine.output(), /stopped cleanly/);
});

service.run();
