import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BookingStatus, type BookingResponse, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { createRandom } from '../src/car/prng.js';
import { MANHATTAN, carId, drive, insideManhattan, newCar, distanceKm, type Position } from '../src/car/model.js';
import { defaultBehavior, newSimCar, onBookingResponse, update, type BehaviorConfig, type SimCar } from '../src/car/behavior.js';

const model = suite('car model');

model('car ids are CAR-001 style', () => {
  assert.is(carId(0), 'CAR-001');
  assert.is(carId(41), 'CAR-042');
  assert.is(carId(12344, 'LOAD-'), 'LOAD-12345');
});

model('every update drains 0.1–0.5 points and never below 0', () => {
  const random = createRandom(1);
  let car = newCar('CAR-001', random, 100);
  for (let i = 0; i < 2000; i++) {
    const next = drive(car, random, 2000);
    const drained = car.battery - next.battery;
    if (car.battery >= 0.5) {
      assert.ok(drained >= 0.1 - 1e-9 && drained <= 0.5 + 1e-9, `drained ${drained}`);
    } else {
      assert.ok(next.battery >= 0 && drained <= 0.5 + 1e-9);
    }
    car = next;
  }
  assert.is(car.battery, 0);
  // An empty battery strands the car.
  const stranded = drive(car, random, 2000);
  assert.is(stranded.velocity, 0);
  assert.equal([stranded.lat, stranded.lon], [car.lat, car.lon]);
});

model('the random walk stays inside the Manhattan box at 0–60 km/h', () => {
  const random = createRandom(99);
  for (let c = 0; c < 20; c++) {
    // Long intervals make big steps, so cars hit the edges often.
    let car = newCar(carId(c), random, 100);
    for (let i = 0; i < 3000; i++) {
      car = drive({ ...car, battery: 100 }, random, 120_000);
      assert.ok(insideManhattan(car), `${car.lat},${car.lon} outside the box`);
      assert.ok(car.velocity >= 0 && car.velocity <= 60);
    }
  }
  assert.is(MANHATTAN.minLat, 40.7);
});

model('the same seed drives the same path; another seed another', () => {
  const path = (seed: number) => {
    const random = createRandom(seed);
    let car = newCar('CAR-001', random);
    const points: number[] = [];
    for (let i = 0; i < 50; i++) {
      car = drive(car, random, 2000);
      points.push(car.lat, car.lon, car.battery);
    }
    return points;
  };
  assert.equal(path(42), path(42));
  assert.not.equal(path(42), path(43));
});

const cycle = suite('charging cycle');
const STATION: Position = { lat: 40.7359, lon: -73.9911 };
const cfg = (overrides: Partial<BehaviorConfig> = {}): BehaviorConfig => ({
  ...defaultBehavior(2000, new Map([['ST-017', STATION]])),
  ...overrides,
});

function confirmed(sim: SimCar, bookingId: string, stationId: string): BookingResponse {
  return { bookingId, carId: sim.car.carId, stationId, status: BookingStatus.BOOKING_CONFIRMED, message: '', timestamp: 0, priceRate: 0.3, command: undefined };
}

function lowCar(seed = 5): { sim: SimCar; random: () => number } {
  const random = createRandom(seed);
  const sim = newSimCar('CAR-007', random);
  return { sim: { ...sim, car: { ...sim.car, battery: 20.3 } }, random };
}

cycle('low battery asks for a slot once, drives to the station, charges with a rising meter, unplugs and drives on', () => {
  const config = cfg();
  let { sim, random } = lowCar();
  let now = 1_700_000_000_000;
  const statuses: CarStatus[] = [];
  const step = () => {
    now += 2000;
    const next = update(sim, now, random, config);
    sim = next.sim;
    statuses.push(next.status);
    return next.status;
  };

  // Drives until below 20%, then the status carries the booking request.
  let request = step();
  while (request.bookingRequest === undefined) request = step();
  assert.ok(request.batteryLevel < 20);
  assert.is(request.bookingRequest!.carId, 'CAR-007');
  assert.is(request.bookingRequest!.stationId, '');
  assert.ok(request.bookingRequest!.expectedArrival > now);
  assert.is(sim.phase.kind, 'awaiting-booking');
  // While waiting for the answer it does not ask again.
  assert.is(step().bookingRequest, undefined);

  sim = onBookingResponse(sim, confirmed(sim, 'B-1', 'ST-017'), now, config);
  assert.is(sim.phase.kind, 'to-station');

  // Reaches the station within the trip's updates and plugs in there.
  let plugged: CarStatus | undefined;
  for (let i = 0; i < config.tripUpdates && !plugged; i++) {
    const s = step();
    if (s.charging) plugged = s;
    else assert.is(s.stationId, '');
  }
  assert.ok(plugged, 'plugged in within the trip');
  assert.is(plugged!.stationId, 'ST-017');
  assert.equal([plugged!.latitude, plugged!.longitude], [STATION.lat, STATION.lon]);
  assert.is(plugged!.velocity, 0);
  const pluggedInAt = plugged!.pluggedInAt;
  assert.is(pluggedInAt, now);
  const batteryAtPlug = plugged!.batteryLevel;

  // Charging: same stay, battery and meter rise, never decrease.
  let last = plugged!;
  let s = step();
  while (s.charging) {
    assert.is(s.stationId, 'ST-017');
    assert.is(s.pluggedInAt, pluggedInAt);
    assert.ok(s.batteryLevel > last.batteryLevel);
    assert.ok(s.chargeEnergyKwh > last.chargeEnergyKwh);
    assert.is(s.velocity, 0);
    last = s;
    s = step();
  }
  // Unplugged when full enough (80–95%), and the meter matches the energy the battery took.
  assert.ok(last.batteryLevel >= 80 && last.batteryLevel <= 100, `unplugged at ${last.batteryLevel}`);
  assert.ok(Math.abs(last.chargeEnergyKwh - ((last.batteryLevel - batteryAtPlug) * config.batteryKwh) / 100) < 0.01);
  assert.is(s.stationId, '');
  assert.is(s.charging, false);
  assert.is(s.pluggedInAt, 0);
  assert.is(sim.stays, 1);
  assert.is(sim.phase.kind, 'driving');
});

cycle('a failed booking is retried after the retry delay', () => {
  const config = cfg({ retryAfterMs: 10_000 });
  let { sim, random } = lowCar();
  sim = { ...sim, car: { ...sim.car, battery: 15 } };
  let now = 1_000_000;
  const first = update(sim, now, random, config);
  assert.ok(first.status.bookingRequest);
  sim = onBookingResponse(first.sim, { ...confirmed(first.sim, '', ''), status: BookingStatus.BOOKING_FAILED }, now, config);
  assert.equal(sim.phase, { kind: 'driving', nextBookingAt: now + 10_000 });
  // Before the delay: no request; after it: a new one.
  for (now += 2000; now < 1_000_000 + 10_000; now += 2000) {
    const next = update(sim, now, random, config);
    assert.is(next.status.bookingRequest, undefined);
    sim = next.sim;
  }
  assert.ok(update(sim, now, random, config).status.bookingRequest);
});

cycle('an expiry while driving to the station sends the car back to driving and retrying later', () => {
  const config = cfg();
  let { sim, random } = lowCar();
  sim = { ...sim, car: { ...sim.car, battery: 15 } };
  sim = update(sim, 1000, random, config).sim;
  sim = onBookingResponse(sim, confirmed(sim, 'B-9', 'ST-017'), 1000, config);
  // A late expiry of another booking changes nothing.
  const other = { ...confirmed(sim, 'B-8', 'ST-017'), status: BookingStatus.BOOKING_EXPIRED };
  assert.is(onBookingResponse(sim, other, 2000, config), sim);
  sim = onBookingResponse(sim, { ...other, bookingId: 'B-9' }, 2000, config);
  assert.equal(sim.phase, { kind: 'driving', nextBookingAt: 2000 + config.retryAfterMs });
});

cycle('a station missing from the registry is reached after the trip’s updates', () => {
  const config = cfg({ stations: new Map(), tripUpdates: 3 });
  let { sim, random } = lowCar();
  sim = { ...sim, car: { ...sim.car, battery: 15 } };
  sim = update(sim, 1000, random, config).sim;
  sim = onBookingResponse(sim, confirmed(sim, 'B-2', 'ST-404'), 1000, config);
  const statuses = [1, 2, 3].map((i) => {
    const next = update(sim, 1000 + i * 2000, random, config);
    sim = next.sim;
    return next.status;
  });
  assert.equal(statuses.map((s) => s.charging), [false, false, true]);
  assert.is(statuses[2]!.stationId, 'ST-404');
});

cycle('no answer to a booking request: the car asks again after the timeout', () => {
  const config = cfg({ bookingTimeoutMs: 5_000 });
  let { sim, random } = lowCar();
  sim = { ...sim, car: { ...sim.car, battery: 15 } };
  sim = update(sim, 0, random, config).sim;
  sim = update(sim, 6_000, random, config).sim;
  assert.is(sim.phase.kind, 'driving');
  assert.ok(update(sim, 8_000, random, config).status.bookingRequest);
});

cycle('distances are in km', () => {
  assert.ok(Math.abs(distanceKm({ lat: 40.7, lon: -74 }, { lat: 40.8, lon: -74 }) - 11.13) < 0.05);
});

model.run();
cycle.run();
