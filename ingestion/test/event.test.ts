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

test.run();
