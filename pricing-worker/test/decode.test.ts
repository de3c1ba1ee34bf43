import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classify, decodeBatch, packValues, sessionIdOf } from '../src/decode.js';
import decodeTask from '../src/decode-task.js';
import { buildRows } from '../src/rows.js';

const T = Date.UTC(2026, 0, 15, 12);
const sample = (extra: Record<string, unknown> = {}) => ({
  event_type: 'telemetry', event_id: 'e', car_id: 'CAR-001', lat: 40.7, lon: -73.9, battery: 50, velocity: 0,
  timestamp: T, station_id: 'ST-1', charging: true, charge_energy_kwh: 2.5, plugged_in_at: T - 60_000, ...extra,
});
const pack = (values: Array<string | null>) => packValues(values.map((v) => (v === null ? null : Buffer.from(v))));

test('session id: the same for every sample of a stay, different for another stay, UUIDv5 shaped', () => {
  const id = sessionIdOf('CAR-001', 'ST-1', T);
  assert.is(sessionIdOf('CAR-001', 'ST-1', T), id);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.is.not(sessionIdOf('CAR-001', 'ST-1', T + 1), id);
  assert.is.not(sessionIdOf('CAR-001', 'ST-2', T), id);
  assert.is.not(sessionIdOf('CAR-002', 'ST-1', T), id);
  // Pinned: every process, version and restart must agree on it.
  assert.is(sessionIdOf('CAR-001', 'ST-1', 1768478400000), 'af82fbac-884f-5a0d-af2b-78151fce2c66');
});

test('non-charging telemetry, bookings and future event types produce no row and are not poison', () => {
  assert.equal(classify(sample({ charging: false })), { kind: 'ignore' });
  assert.equal(classify({ event_type: 'telemetry', car_id: 'CAR-1', timestamp: T }), { kind: 'ignore' });
  assert.equal(classify({ event_type: 'booking_confirmed', car_id: 'CAR-1', booking_id: 'b' }), { kind: 'ignore' });
  assert.equal(classify({ event_type: 'something_new' }), { kind: 'ignore' });
});

test('impossible charging samples are poison with a reason naming the field', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ charge_energy_kwh: -1 }, 'charge_energy_kwh'],
    [{ charge_energy_kwh: 5000 }, 'charge_energy_kwh'],
    [{ charge_energy_kwh: undefined }, 'charge_energy_kwh'],
    [{ station_id: '' }, 'station'],
    [{ station_id: undefined }, 'station'],
    [{ plugged_in_at: T + 1 }, 'after timestamp'],
    [{ plugged_in_at: 'x' }, 'plugged_in_at'],
    [{ timestamp: Date.UTC(2200, 0, 1) }, 'timestamp'],
    [{ car_id: '' }, 'car_id'],
    // PostgreSQL text holds no NUL: the database would refuse it.
    [{ car_id: 'CAR\u0000001' }, 'car_id'],
    [{ station_id: 'ST\u00001' }, 'station'],
    [{ charging: 1 }, 'charging'],
  ];
  for (const [change, field] of cases) {
    const verdict = classify(sample(change));
    assert.is(verdict.kind, 'poison', JSON.stringify(change));
    assert.match((verdict as { reason: string }).reason, field);
  }
});

test('decodeBatch: samples in order, poison by index, ignored counted; stays share their id', () => {
  const values = [
    JSON.stringify(sample({ timestamp: T, charge_energy_kwh: 1 })),
    'not json {',
    JSON.stringify({ event_type: 'telemetry', car_id: 'CAR-9', timestamp: T }),
    null,
    JSON.stringify(sample({ timestamp: T + 60_000, charge_energy_kwh: 1.5 })),
    JSON.stringify(sample({ car_id: 'CAR-002', timestamp: T + 1, charge_energy_kwh: 0.25 })),
    '"just a string"',
  ];
  const { buf, lengths } = pack(values);
  const out = decodeTask({ buf, lengths });
  assert.is(out.samples.count, 3);
  assert.equal(Array.from(out.samples.time), [T, T + 60_000, T + 1]);
  assert.equal(Array.from(out.samples.meter), [1, 1.5, 0.25]);
  assert.equal(Array.from(out.samples.source), [0, 4, 5]);
  assert.equal(out.samples.carId, ['CAR-001', 'CAR-001', 'CAR-002']);
  assert.equal(out.samples.stationId, ['ST-1', 'ST-1', 'ST-1']);
  assert.is(out.samples.sessionId[0], out.samples.sessionId[1]);
  assert.is.not(out.samples.sessionId[0], out.samples.sessionId[2]);
  assert.is(out.samples.sessionId[0], sessionIdOf('CAR-001', 'ST-1', T - 60_000));
  assert.equal(out.poison.map((p) => p.index), [1, 3, 6]);
  assert.match(out.poison[0]!.reason, 'not JSON');
  assert.match(out.poison[1]!.reason, 'no value');
  assert.match(out.poison[2]!.reason, 'not a JSON object');
  assert.is(out.ignored, 1);
});

test('packValues keeps multi-byte text intact across message boundaries', () => {
  const values = [JSON.stringify(sample({ station_id: 'Zürich-Ost ⚡' })), JSON.stringify(sample({ station_id: '東京' }))];
  const { buf, lengths } = pack(values);
  assert.is(buf.byteLength, Buffer.byteLength(values[0]!) + Buffer.byteLength(values[1]!));
  assert.equal(decodeBatch(buf, lengths).samples.stationId, ['Zürich-Ost ⚡', '東京']);
});

test('buildRows pairs each sample with its price', () => {
  const { buf, lengths } = pack([JSON.stringify(sample()), JSON.stringify(sample({ timestamp: T + 1, charge_energy_kwh: 3 }))]);
  const rows = buildRows(decodeBatch(buf, lengths).samples, Float64Array.from([0.3, 0.31]));
  assert.equal(rows.priceRate, [0.3, 0.31]);
  assert.equal(rows.meterKwh, [2.5, 3]);
  assert.equal(rows.timeMs, [T, T + 1]);
  assert.throws(() => buildRows(decodeBatch(buf, lengths).samples, Float64Array.from([0.3])));
});

test.run();
