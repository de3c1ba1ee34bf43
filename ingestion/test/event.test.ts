import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { serializeTelemetry } from '../src/event.js';

const base: CarStatus = {
  carId: 'CAR-001',
  latitude: 40.7234,
  longitude: -73.9876,
  batteryLevel: 85.3,
  velocity: 45.2,
  timestamp: 1701532800000,
  stationId: '',
  charging: false,
  chargeEnergyKwh: 0,
  pluggedInAt: 0,
  bookingRequest: undefined,
    commandResult: undefined,
};

test('telemetry event carries the contract fields and an event_id', () => {
  const { eventId, value } = serializeTelemetry(base);
  const event = JSON.parse(value) as Record<string, unknown>;
  assert.equal(event, {
    event_id: eventId,
    event_type: 'telemetry',
    car_id: 'CAR-001',
    lat: 40.7234,
    lon: -73.9876,
    battery: 85.3,
    velocity: 45.2,
    timestamp: 1701532800000,
  });
  assert.match(eventId, /^[0-9a-f]{32}$/);
});

test('charging fields appear when the car is plugged in', () => {
  const plugged = { ...base, stationId: 'ST-7', charging: true, chargeEnergyKwh: 4.5, pluggedInAt: 1701532000000 };
  const event = JSON.parse(serializeTelemetry(plugged).value) as Record<string, unknown>;
  assert.is(event.station_id, 'ST-7');
  assert.is(event.charging, true);
  assert.is(event.charge_energy_kwh, 4.5);
  assert.is(event.plugged_in_at, 1701532000000);
});

test('the same CarStatus gives the same event_id; any change gives another', () => {
  const first = serializeTelemetry(base);
  const again = serializeTelemetry({ ...base });
  assert.is(again.eventId, first.eventId);
  assert.is(again.value, first.value);
  const ids = new Set([
    first.eventId,
    serializeTelemetry({ ...base, timestamp: base.timestamp + 1 }).eventId,
    serializeTelemetry({ ...base, batteryLevel: 85.2 }).eventId,
    serializeTelemetry({ ...base, carId: 'CAR-002' }).eventId,
    serializeTelemetry({ ...base, latitude: 40.7235 }).eventId,
  ]);
  assert.is(ids.size, 5);
});

test('a late CarStatus is marked late and keeps its event_id', () => {
  const inOrder = serializeTelemetry(base);
  const late = serializeTelemetry(base, true);
  assert.is(late.eventId, inOrder.eventId);
  const event = JSON.parse(late.value) as Record<string, unknown>;
  assert.is(event.late, true);
  assert.equal({ ...event, late: undefined }, { ...(JSON.parse(inOrder.value) as Record<string, unknown>), late: undefined });
  assert.is((JSON.parse(inOrder.value) as Record<string, unknown>).late, undefined);
});

test('the event is byte for byte JSON.stringify of the contract fields, over many valid statuses', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const plugged = i % 3 === 0;
    const s: CarStatus = {
      ...base,
      carId: `CAR_${i}.x-${Math.floor(rnd() * 1e6)}`,
      latitude: (rnd() - 0.5) * 170,
      longitude: i % 7 === 0 ? -180 : (rnd() - 0.5) * 360,
      batteryLevel: i % 11 === 0 ? 0 : Math.round(rnd() * 1000) / 10,
      velocity: i % 13 === 0 ? 1e-7 : rnd() * 300,
      timestamp: 1701532800000 + i,
      stationId: plugged ? `ST-${i}` : '',
      charging: plugged && i % 2 === 0,
      chargeEnergyKwh: plugged ? rnd() * 100 : 0,
      pluggedInAt: plugged ? 1701532000000 : 0,
    };
    const fields: Record<string, unknown> = { event_type: 'telemetry', car_id: s.carId, lat: s.latitude, lon: s.longitude, battery: s.batteryLevel, velocity: s.velocity, timestamp: s.timestamp };
    if (plugged) Object.assign(fields, { station_id: s.stationId, charging: s.charging, charge_energy_kwh: s.chargeEnergyKwh, plugged_in_at: s.pluggedInAt });
    const { eventId, value } = serializeTelemetry(s);
    assert.is(value, `{"event_id":"${eventId}",${JSON.stringify(fields).slice(1)}`);
  }
});

test.run();
