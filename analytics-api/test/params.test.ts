import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRequest, parseBucket, parseCarId, parseInstant, parseMetric, parseRange, readQuery } from '../src/params.js';
import { loadConfig } from '../src/config.js';
import { unrefusedConfig } from '@greenlane/common/testing';

const limits = { maxRangeDays: 31, maxPoints: 2000, maxRows: 5000 };

function refused(fn: () => unknown, parameter: string, code = 'bad_request', message?: RegExp): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, BadRequest);
    assert.is((error as BadRequest).parameter, parameter);
    assert.is((error as BadRequest).code, code);
    if (message) assert.match((error as BadRequest).message, message);
    return;
  }
  assert.unreachable(`accepted; expected a 400 on ${parameter}`);
}

test('times: ISO 8601 with a zone, a bare date (UTC), epoch milliseconds', () => {
  assert.is(parseInstant('from', '2026-12-01T10:00:00Z').toISOString(), '2026-12-01T10:00:00.000Z');
  assert.is(parseInstant('from', '2026-12-01T10:00+02:00').toISOString(), '2026-12-01T08:00:00.000Z');
  assert.is(parseInstant('from', '2026-12-01T10:00:00.250Z').toISOString(), '2026-12-01T10:00:00.250Z');
  assert.is(parseInstant('from', '2026-12-01').toISOString(), '2026-12-01T00:00:00.000Z');
  assert.is(parseInstant('from', '1764583200000').toISOString(), '2025-12-01T10:00:00.000Z');
  for (const bad of ['yesterday', '2026-12-01T10:00:00', '2026-13-01', '2026-02-30', '2026-12-01T25:00Z', '12/01/2026', '', '1e12', '-5', '2026-12-01T10:00:00Z; DROP TABLE car_telemetry', '3000-01-01']) {
    refused(() => parseInstant('from', bad), 'from');
  }
});

test('ranges: default the last 24 hours, from before to, at most the longest range', () => {
  const now = Date.UTC(2026, 11, 1, 12);
  const r = parseRange(new Map(), limits, now);
  assert.is(r.to.toISOString(), '2026-12-01T12:00:00.000Z');
  assert.is(r.seconds, 86_400);
  refused(() => parseRange(new Map([['from', '2026-12-02'], ['to', '2026-12-01']]), limits), 'from', 'bad_request', /must be before/);
  refused(() => parseRange(new Map([['from', '2026-10-01'], ['to', '2026-12-01']]), limits), 'to', 'range_too_long', /at most 31 days/);
  assert.is(parseRange(new Map([['from', '2026-11-01'], ['to', '2026-12-01']]), limits).seconds, 30 * 86_400);
});

test('buckets: a size and a unit, or auto; too small for the range is refused with the smallest that fits', () => {
  const day = parseRange(new Map([['from', '2026-11-30'], ['to', '2026-12-01']]), limits);
  assert.equal(parseBucket('5m', day, limits), { seconds: 300, label: '5m' });
  assert.equal(parseBucket(undefined, day, limits), { seconds: 60, label: '1m' });
  const month = parseRange(new Map([['from', '2026-11-01'], ['to', '2026-12-01']]), limits);
  assert.equal(parseBucket('auto', month, limits), { seconds: 1800, label: '30m' });
  refused(() => parseBucket('1s', day, limits), 'bucket', 'bucket_too_small', /86400 points, at most 2000; use a bucket of at least 44 s/);
  for (const bad of ['5', 'm', '5 m', '1w', '-1m', '0.5h', "1h'; --", '9999999s', '0s']) refused(() => parseBucket(bad, day, limits), 'bucket');
});

test('metrics, car ids and the query string: only what is known', () => {
  assert.is(parseMetric('battery')[0], 'battery');
  refused(() => parseMetric('speed'), 'metric', 'unknown_metric', /one of battery, velocity/);
  refused(() => parseMetric('constructor'), 'metric', 'unknown_metric');
  refused(() => parseMetric('battery); DROP TABLE car_telemetry; --'), 'metric', 'unknown_metric');
  refused(() => parseMetric(undefined), 'metric');
  assert.is(parseCarId('CAR-0042'), 'CAR-0042');
  for (const bad of ["CAR' OR '1'='1", 'CAR 1', 'x'.repeat(129), '', 'CAR\u0000', 'CÄR']) refused(() => parseCarId(bad), 'car_id');
  refused(() => readQuery(new URLSearchParams('metric=battery&limit=10'), ['metric']), 'limit', 'bad_request', /unknown parameter "limit"/);
  refused(() => readQuery(new URLSearchParams('metric=a&metric=b'), ['metric']), 'metric', 'bad_request', /more than once/);
  assert.equal([...readQuery(new URLSearchParams('metric=a&token=t'), ['metric'])], [['metric', 'a']], 'the operator token may come in the query');
});

test('configuration: defaults, and a bad variable is named', () => {
  const config = loadConfig({});
  assert.is(config.addr, '0.0.0.0:9467');
  assert.equal(config.limits, { maxRangeDays: 31, maxPoints: 2000, maxRows: 5000, maxScanRows: 2_000_000, statementTimeoutMs: 5000 });
  assert.ok(config.operators.development);
  assert.equal(unrefusedConfig(loadConfig, [['ANALYTICS_MAX_POINTS', 'many'], ['ANALYTICS_DB_SCHEMA', 'a b'], ['ANALYTICS_ADDR', ':'], ['OPERATOR_TOKENS', ' , ']]), []);
});

test.run();
