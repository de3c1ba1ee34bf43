import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeTelemetry, sliceRows } from '../src/decode.js';
import { loadConfig } from '../src/config.js';
import { unrefusedConfig } from '@greenlane/common/testing';

const base = { event_type: 'telemetry', event_id: 'e1', car_id: 'CAR-1', lat: 40.7, lon: -73.9, battery: 50, velocity: 20, timestamp: Date.UTC(2026, 0, 1) };
const b = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

test('a telemetry event becomes a row with its charging fields; other event types are not history', () => {
  const { rows, rejected, ignored } = decodeTelemetry([
    b(base),
    b({ ...base, event_id: 'e2', station_id: 'ST-1', charging: true, charge_energy_kwh: 1.5, plugged_in_at: base.timestamp - 1000, late: true }),
    b({ event_type: 'booking_confirmed', event_id: 'x', car_id: 'CAR-1', booking_id: 'B1', station_id: 'ST-1', price_rate: 0.3, timestamp: 1 }),
    b({ ...base, event_id: 'e3', station_id: '' }),
  ]);
  assert.equal(rejected, []);
  assert.is(ignored, 1);
  assert.is(rows.count, 3);
  assert.equal(rows.eventId, ['e1', 'e2', 'e3']);
  assert.equal(rows.stationId, [null, 'ST-1', null]);
  assert.equal(rows.charging, [false, true, false]);
  assert.equal(rows.energyKwh, [null, 1.5, null]);
  assert.equal(rows.pluggedInMs, [null, base.timestamp - 1000, null]);
  assert.equal(rows.late, [false, true, false]);
});

test('what cannot be a row is rejected with the reason, and the rest of the batch still is', () => {
  const bad: Array<[unknown, RegExp]> = [
    ['not json', /not JSON/],
    [[1, 2], /not a JSON object/],
    [{ car_id: 'x' }, /event_type missing/],
    [{ ...base, event_id: undefined }, /event_id/],
    [{ ...base, event_id: 'a\u0000b' }, /event_id/],
    [{ ...base, car_id: 'x'.repeat(129) }, /car_id/],
    [{ ...base, timestamp: 'yesterday' }, /timestamp/],
    [{ ...base, timestamp: Date.UTC(2200, 0, 1) }, /timestamp/],
    [{ ...base, lat: 91 }, /lat=/],
    [{ ...base, lon: '-73.9' }, /lon=/],
    [{ ...base, battery: null }, /battery=/],
    [{ ...base, velocity: 'fast' }, /velocity=/],
    [{ ...base, station_id: 42 }, /station_id=/],
    [{ ...base, charging: 'yes' }, /charging=/],
    [{ ...base, charge_energy_kwh: 'lots' }, /charge_energy_kwh=/],
    [{ ...base, plugged_in_at: -5 }, /plugged_in_at=/],
  ];
  const values = [...bad.map(([v]) => b(v)), null, b(base)];
  const { rows, rejected } = decodeTelemetry(values);
  assert.is(rows.count, 1);
  assert.is(rejected.length, bad.length + 1);
  bad.forEach(([, reason], i) => assert.match(rejected[i]!.reason, reason, `value ${i}`));
  assert.match(rejected[bad.length]!.reason, /null record/);
});

test('sliceRows keeps every column aligned', () => {
  const { rows } = decodeTelemetry([0, 1, 2, 3].map((i) => b({ ...base, event_id: `e${i}`, velocity: i })));
  const part = sliceRows(rows, 1, 3);
  assert.is(part.count, 2);
  assert.equal(part.eventId, ['e1', 'e2']);
  assert.equal(part.velocity, [1, 2]);
});

test('configuration: defaults, and a bad variable is named', () => {
  const config = loadConfig({});
  assert.is(config.groupId, 'history-writer-group');
  assert.is(config.retentionDays, 30);
  assert.is(config.runJobs, 'auto');
  assert.is(config.connections, 1, 'one connection on the embedded database');
  assert.is(loadConfig({ DATABASE_URL: 'postgres://x@h/db' }).connections, 4);
  assert.equal(unrefusedConfig(loadConfig, [['HISTORY_RETENTION_DAYS', 'forever'], ['HISTORY_RUN_JOBS', 'sometimes'], ['HISTORY_DB_SCHEMA', 'Robert"); DROP'], ['DATABASE_URL', 'mysql://x'], ['HISTORY_HTTP_ADDR', 'nowhere']]), []);
});

test.run();
