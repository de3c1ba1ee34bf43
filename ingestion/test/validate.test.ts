import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { validateCarStatus } from '../src/validate.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

function status(extra: Partial<CarStatus> = {}): CarStatus {
  return {
    carId: 'CAR-001',
    latitude: 40.7234,
    longitude: -73.9876,
    batteryLevel: 85.3,
    velocity: 45.2,
    timestamp: NOW - 500,
    stationId: '',
    charging: false,
    chargeEnergyKwh: 0,
    pluggedInAt: 0,
    bookingRequest: undefined,
    commandResult: undefined,
    ...extra,
  };
}

test('a contract-shaped CarStatus passes, with or without a charging stay or a booking request', () => {
  assert.is(validateCarStatus(status(), NOW), undefined);
  assert.is(
    validateCarStatus(status({ stationId: 'ST-12', charging: true, chargeEnergyKwh: 3.2, pluggedInAt: NOW - 60_000 }), NOW),
    undefined,
  );
  assert.is(
    validateCarStatus(status({ bookingRequest: { carId: 'CAR-001', stationId: '', expectedArrival: NOW + 600_000, batteryLevel: 12 } }), NOW),
    undefined,
  );
  assert.is(validateCarStatus(status({ batteryLevel: 0, velocity: 0 }), NOW), undefined);
  // The stores' own bounds, inclusive: what Redis GEO still takes.
  assert.is(validateCarStatus(status({ latitude: 85.05112878, longitude: 180 }), NOW), undefined);
  assert.is(validateCarStatus(status({ latitude: -85.05112878, longitude: -180 }), NOW), undefined);
});

// Each bad input: the message names the field, shows the value and states the rule.
const cases: Array<[string, Partial<CarStatus>, RegExp]> = [
  ['empty car id', { carId: '' }, /^invalid car_id="": must not be empty$/],
  ['car id too long', { carId: 'C'.repeat(65) }, /^invalid car_id=".*": must be at most 64 characters$/],
  ['car id charset', { carId: 'CAR 001\n' }, /^invalid car_id="CAR 001\\n": may contain only letters, digits/],
  ['latitude out of range', { latitude: 91 }, /^invalid latitude=91: must be a number from -90 to 90$/],
  ['latitude not finite', { latitude: Number.NaN }, /^invalid latitude=NaN: must be a number from -90 to 90$/],
  ['latitude beyond the geo index (north)', { latitude: 86 }, /^invalid latitude=86: must be within ±85.05112878° \(the live index, Redis GEO/],
  ['latitude beyond the geo index (south)', { latitude: -85.06 }, /^invalid latitude=-85.06: must be within ±85.05112878°/],
  ['longitude out of range', { longitude: -180.5 }, /^invalid longitude=-180.5: must be a number from -180 to 180$/],
  ['unset position', { latitude: 0, longitude: 0 }, /^invalid latitude,longitude="0,0": position not set/],
  ['battery above 100', { batteryLevel: 100.1 }, /^invalid battery_level=100.1: must be a number from 0 to 100 percent$/],
  ['battery negative', { batteryLevel: -1 }, /^invalid battery_level=-1: /],
  ['velocity negative', { velocity: -3 }, /^invalid velocity=-3: must be a number from 0 to 300 km\/h$/],
  ['velocity implausible', { velocity: 1200 }, /^invalid velocity=1200: /],
  ['velocity infinite', { velocity: Number.POSITIVE_INFINITY }, /^invalid velocity=Infinity: /],
  ['timestamp in seconds', { timestamp: 1_701_532_800 }, /^invalid timestamp=1701532800: must be unix epoch milliseconds after 2000-01-01$/],
  ['timestamp zero', { timestamp: 0 }, /^invalid timestamp=0: /],
  ['timestamp far future', { timestamp: NOW + 2 * 86_400_000 }, /^invalid timestamp=\d+: must not be more than 24 h ahead/],
  ['charging without station', { charging: true }, /^invalid charging=true: requires station_id/],
  ['meter without station', { chargeEnergyKwh: 2 }, /^invalid charge_energy_kwh=2: requires station_id$/],
  ['meter negative', { stationId: 'ST-1', pluggedInAt: NOW - 1000, chargeEnergyKwh: -1 }, /^invalid charge_energy_kwh=-1: /],
  ['stay start without station', { pluggedInAt: NOW - 1000 }, /^invalid plugged_in_at=\d+: requires station_id$/],
  ['station without stay start', { stationId: 'ST-1' }, /^invalid plugged_in_at=0: .*\(required when station_id is set\)$/],
  ['stay starting after the sample', { stationId: 'ST-1', pluggedInAt: NOW }, /^invalid plugged_in_at=\d+: must not be after timestamp/],
  ['station id charset', { stationId: 'ST 1', pluggedInAt: NOW - 1000 }, /^invalid station_id="ST 1": /],
  [
    'booking for another car',
    { bookingRequest: { carId: 'CAR-999', stationId: '', expectedArrival: 0, batteryLevel: 10 } },
    /^invalid booking_request.car_id="CAR-999": must be empty or equal car_id "CAR-001"$/,
  ],
  [
    'booking battery out of range',
    { bookingRequest: { carId: '', stationId: '', expectedArrival: 0, batteryLevel: 140 } },
    /^invalid booking_request.battery_level=140: /,
  ],
];

for (const [name, extra, expected] of cases) {
  test(`rejects ${name}`, () => {
    const message = validateCarStatus(status(extra), NOW);
    assert.ok(message !== undefined, 'expected a rejection');
    assert.match(message!, expected);
  });
}

test.run();
