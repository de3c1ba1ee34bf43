import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FLAG_ALERT, FLAG_CHARGING, FLAG_OFFLINE, FLAG_PLUGGED } from '../src/protocol.js';
import { FleetState } from '../src/state.js';

const T = 1_701_532_800_000;
const telemetry = (car: string, lat: number, battery: number, timestamp: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ car_id: car, lat, lon: -73.98, battery, velocity: 20, timestamp, event_type: 'telemetry', event_id: `${car}-${timestamp}`, ...extra });

const newState = () => new FleetState({ offlineAfterMs: 10_000, recentEvents: 3 });

test('a car that moved five times since the last tick is listed once, with its newest position', () => {
  const s = newState();
  for (let i = 1; i <= 5; i++) s.apply(telemetry('CAR-001', 40.7 + i / 100, 80, T + i * 1000), 0);
  s.apply(telemetry('CAR-002', 40.8, 80, T), 0);
  const dirty = s.takeDirty();
  assert.is(dirty.count, 2);
  assert.is(s.columns.lat[dirty.rows[0]!], Math.round(40.75 * 1e6));
  assert.is(s.takeDirty().count, 0, 'nothing changed since');
  s.apply(telemetry('CAR-002', 40.81, 80, T + 1), 0);
  assert.equal([...s.takeDirty().rows], [1]);
});

test('an older state arriving late (or marked late) is history: recent events keep it, the position does not', () => {
  const s = newState();
  s.apply(telemetry('CAR-001', 40.75, 80, T + 2000), 0);
  s.takeDirty();
  s.apply(telemetry('CAR-001', 40.71, 79, T + 1000), 0);
  s.apply(telemetry('CAR-001', 40.72, 79, T + 3000, { late: true }), 0);
  assert.is(s.takeDirty().count, 0);
  const car = s.detail('CAR-001')!;
  assert.is(car.lat, 40.75);
  assert.is(car.recentEvents.length, 3);
});

test('alerts: raised below 15 %, cleared above, listed lowest first', () => {
  const s = newState();
  s.apply(telemetry('CAR-001', 40.75, 14.9, T), 0);
  s.apply(telemetry('CAR-002', 40.75, 3, T), 0);
  s.apply(telemetry('CAR-003', 40.75, 15, T), 0);
  assert.equal(s.alertList().map((a) => a.carId), ['CAR-002', 'CAR-001']);
  assert.ok(s.columns.flags[0]! & FLAG_ALERT);
  const version = s.alertsVersion;
  s.apply(telemetry('CAR-002', 40.75, 60, T + 1), 0);
  assert.equal(s.alertList().map((a) => a.carId), ['CAR-001']);
  assert.ok(s.alertsVersion > version);
  assert.is(s.columns.flags[1]! & FLAG_ALERT, 0);
});

test("the alert engine's alerts (fleet-alerts): raised, acknowledged, cleared; the car is highlighted while one is active", () => {
  const s = newState();
  s.apply(telemetry('CAR-001', 40.75, 80, T), 0);
  s.takeDirty();
  const alert = (transition: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ event_type: `alert_${transition}`, event_id: `a-${transition}`, alert_id: 'AL-1', car_id: 'CAR-001', rule: 'overspeed', severity: 'warning', at: T + 1, raised_at: T + 1, values: { velocity: 130 }, ...extra });
  assert.ok(s.apply(alert('raised'), 0));
  assert.ok(s.columns.flags[0]! & FLAG_ALERT);
  assert.equal([...s.takeDirty().rows], [0], 'the car is sent again, highlighted');
  assert.equal(s.alertList().map((a) => [a.kind, a.severity, a.alertId]), [['overspeed', 'warning', 'AL-1']]);
  s.apply(alert('acknowledged', { operator: 'op' }), 0);
  assert.is(s.alertList()[0]!.acknowledged, true);
  // Telemetry above 15 % keeps the engine's alert on the car.
  s.apply(telemetry('CAR-001', 40.76, 79, T + 2), 0);
  assert.ok(s.columns.flags[0]! & FLAG_ALERT);
  assert.is(s.detail('CAR-001')!.alerts!.length, 1);
  s.apply(alert('cleared'), 0);
  assert.is(s.alertList().length, 0);
  assert.is(s.columns.flags[0]! & FLAG_ALERT, 0);
  // A critical battery and an engine alert together: critical first.
  s.apply(telemetry('CAR-002', 40.75, 5, T), 0);
  s.apply(alert('raised', { alert_id: 'AL-2', car_id: 'CAR-001', severity: 'warning' }), 0);
  assert.equal(s.alertList().map((a) => a.kind), ['critical_battery', 'overspeed']);
  assert.is(s.apply(JSON.stringify({ event_type: 'alert_exploded', alert_id: 'x', car_id: 'C', at: 1, timestamp: 1 }), 0), false);
});

test('a silent car goes offline, and back online with its next event', () => {
  const s = newState();
  s.apply(telemetry('CAR-001', 40.75, 80, T), 1_000);
  s.apply(telemetry('CAR-002', 40.75, 80, T), 9_000);
  s.takeDirty();
  s.sweepOffline(12_000);
  assert.equal([...s.takeDirty().rows], [0]);
  assert.ok(s.columns.flags[0]! & FLAG_OFFLINE);
  assert.is(s.detail('CAR-001')!.offline, true);
  s.sweepOffline(12_500);
  assert.is(s.takeDirty().count, 0, 'marked once');
  s.apply(telemetry('CAR-001', 40.76, 80, T + 5000), 13_000);
  assert.is(s.columns.flags[0]! & FLAG_OFFLINE, 0);
});

test('charging, the station and the booking reach the side panel', () => {
  const s = newState();
  s.apply(JSON.stringify({ event_type: 'booking_confirmed', event_id: 'b', car_id: 'CAR-001', booking_id: 'B-1', station_id: 'ST-017', price_rate: 0.31, timestamp: T }), 0);
  s.apply(telemetry('CAR-001', 40.7359, 40, T + 1, { station_id: 'ST-017', charging: true, charge_energy_kwh: 1.5, plugged_in_at: T }), 0);
  const car = s.detail('CAR-001')!;
  assert.equal(car.booking, { status: 'confirmed', bookingId: 'B-1', stationId: 'ST-017', priceRate: 0.31, timestamp: T });
  assert.is(car.stationId, 'ST-017');
  assert.is(car.charging, true);
  assert.is(car.chargeEnergyKwh, 1.5);
  assert.is(s.columns.flags[0]! & (FLAG_CHARGING | FLAG_PLUGGED), FLAG_CHARGING | FLAG_PLUGGED);
});

test('what it cannot read is counted and skipped', () => {
  const s = newState();
  for (const bad of ['not json', '[]', '{"car_id":"X"}', '{"car_id":"X","timestamp":1,"event_type":"telemetry","lat":"north"}', '{"car_id":"X","timestamp":1,"event_type":"mystery"}']) {
    assert.is(s.apply(bad, 0), false, bad);
  }
  assert.is(s.malformed, 5);
  assert.is(s.size, 0);
});

test.run();
