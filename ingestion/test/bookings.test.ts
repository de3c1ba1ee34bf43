/** Unit tests of the booking desk's pure parts: registry, messages, events, config, occupancy mirror. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '@greenlane/common';
import { readBookingConfig } from '../src/bookings/config.js';
import { bookingEvent } from '../src/bookings/events.js';
import {
  confirmedMessage,
  expiredMessage,
  formatDistance,
  formatDuration,
  heldMessage,
  noSlotMessage,
  pluggedInMessage,
} from '../src/bookings/messages.js';
import { OccupancyMirror, REFUSAL_MEMORY_MS } from '../src/bookings/occupancy.js';
import { DEFAULT_STATIONS_FILE, distanceKm, readRegistry, RegistryError, SERVICE_AREA, validateRegistry } from '../src/bookings/registry.js';

const good = { id: 'ST-1', name: 'Union Square', lat: 40.7359, lon: -73.9911, slots: 4 };

test('the shipped registry has at least 50 stations over the Manhattan box with varied capacity', async () => {
  const stations = await readRegistry(DEFAULT_STATIONS_FILE);
  assert.ok(stations.length >= 50, `${stations.length} stations`);
  for (const s of stations) {
    assert.ok(s.lat >= SERVICE_AREA.minLat && s.lat <= SERVICE_AREA.maxLat, s.id);
    assert.ok(s.lon >= SERVICE_AREA.minLon && s.lon <= SERVICE_AREA.maxLon, s.id);
  }
  const capacities = new Set(stations.map((s) => s.slots));
  assert.ok(capacities.size >= 5, `only ${capacities.size} distinct capacities`);
  // Spread: stations in the south, middle and north of the box.
  assert.ok(stations.some((s) => s.lat < 40.72));
  assert.ok(stations.some((s) => s.lat > 40.76 && s.lat < 40.79));
  assert.ok(stations.some((s) => s.lat > 40.83));
});

test('registry validation names every bad entry', () => {
  assert.equal(validateRegistry([good]), [good]);
  assert.throws(() => validateRegistry([]), (e: Error) => e instanceof RegistryError && /non-empty/.test(e.message));
  assert.throws(() => validateRegistry({ id: 'x' }), /non-empty JSON array/);
  const bad = [
    good,
    { ...good }, // duplicate id
    { id: 'ST-2', name: 'Jersey City', lat: 40.72, lon: -74.05, slots: 3 }, // outside the box
    { id: 'ST-3', name: 'Zero', lat: 40.75, lon: -73.98, slots: 0 },
    { id: 'ST-4', name: '', lat: 40.75, lon: -73.98, slots: 2.5 },
    { id: 'bad id!', name: 'x', lat: 40.75, lon: -73.98, slots: 1 },
    'not an object',
  ];
  try {
    validateRegistry(bad, 'stations.json');
    assert.unreachable('should have thrown');
  } catch (error) {
    const message = (error as Error).message;
    assert.ok(message.startsWith('stations.json: 7 problem(s)'), message);
    assert.match(message, 'entry 1 (ST-1): duplicate id');
    assert.match(message, 'entry 2 (ST-2): lon must be');
    assert.match(message, 'entry 3 (ST-3): slots must be');
    assert.match(message, 'entry 4 (ST-4): name is missing');
    assert.match(message, 'entry 4 (ST-4): slots must be');
    assert.match(message, "entry 5 (bad id!): id must be");
    assert.match(message, 'entry 6: not an object');
  }
});

test('readRegistry reports a missing file and bad JSON with the path', async () => {
  try {
    await readRegistry('/nonexistent/stations.json');
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, 'cannot read station registry /nonexistent/stations.json');
  }
  const dir = mkdtempSync(join(tmpdir(), 'greenlane-registry-'));
  const file = join(dir, 'stations.json');
  writeFileSync(file, '[{"id": "ST-1",');
  try {
    await readRegistry(file);
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, `station registry ${file} is not valid JSON`);
  }
});

test('distanceKm agrees with known distances', () => {
  assert.ok(Math.abs(distanceKm({ lat: 40.75, lon: -73.99 }, { lat: 40.75, lon: -73.99 })) < 1e-9);
  // One degree of latitude is ~111.2 km on Redis' sphere.
  const oneDegree = distanceKm({ lat: 40, lon: -74 }, { lat: 41, lon: -74 });
  assert.ok(Math.abs(oneDegree - 111.23) < 0.05, String(oneDegree));
});

test('driver messages: distances, durations and the failure wording', () => {
  assert.is(formatDistance(5), '5 km');
  assert.is(formatDistance(2.54), '2.5 km');
  assert.is(formatDistance(0.347), '350 m');
  assert.is(formatDistance(0.9999), '1 km');
  assert.is(formatDuration(1200), '20 min');
  assert.is(formatDuration(30), '30 s');
  assert.is(formatDuration(5400), '1 h 30 min');
  assert.is(noSlotMessage({ radiusKm: 5, stationsInRange: 0 }), 'no free slot within 5 km: no charging station in range');
  assert.is(noSlotMessage({ radiusKm: 5, stationsInRange: 1 }), 'no free slot within 5 km: the one station in range is full');
  assert.is(
    noSlotMessage({ radiusKm: 2.5, stationsInRange: 3, preferredId: 'ST-9', preferredState: 'full' }),
    'no free slot within 2.5 km: all 3 stations in range are full; ST-9 is full',
  );
  const station = { id: 'ST-1', name: 'Union Square' };
  assert.is(
    confirmedMessage({ station, distanceKm: 1.234, holdSeconds: 1200, priceKnown: true }),
    'slot reserved at Union Square (ST-1), 1.2 km away; held for 20 min',
  );
  assert.is(
    confirmedMessage({ station, distanceKm: 0.4, holdSeconds: 1200, preferredId: 'ST-7', preferredState: 'full', priceKnown: false }),
    'ST-7 is full; slot reserved at Union Square (ST-1), 400 m away; held for 20 min; current price unavailable',
  );
  assert.is(heldMessage(station, 600), 'you already hold a slot at Union Square (ST-1); held for 10 min more');
  assert.is(pluggedInMessage({ id: 'ST-2' }), 'you are plugged in at ST-2; unplug before booking another slot');
  assert.is(expiredMessage(station, 1200), 'booking at Union Square (ST-1) expired: not used within 20 min; the slot was released');
});

test('booking events: stable ids for confirmed/expired, fresh ids for failures, contract fields', () => {
  const fields = { car_id: 'CAR-1', booking_id: 'b-1', station_id: 'ST-1', price_rate: 0.3, timestamp: 1, message: 'm' };
  const a = bookingEvent('booking_confirmed', fields);
  const b = bookingEvent('booking_confirmed', fields);
  assert.is(a.event_id, b.event_id);
  assert.is(bookingEvent('booking_expired', fields).event_id, 'booking_expired:b-1');
  const f1 = bookingEvent('booking_failed', { ...fields, booking_id: '' });
  const f2 = bookingEvent('booking_failed', { ...fields, booking_id: '' });
  assert.is.not(f1.event_id, f2.event_id);
  const withPosition = bookingEvent('booking_confirmed', { ...fields, position: { lat: 40.7, lon: -73.9, battery: 12, velocity: 3 } });
  assert.equal(
    Object.keys(withPosition).sort(),
    ['battery', 'booking_id', 'car_id', 'event_id', 'event_type', 'lat', 'lon', 'message', 'price_rate', 'station_id', 'timestamp', 'velocity'],
  );
});

test('config: defaults, and a bad value names its variable', () => {
  const c = readBookingConfig({});
  assert.is(c.radiusKm, 5);
  assert.is(c.ttlSeconds, 1200);
  assert.is(c.stationsFile, DEFAULT_STATIONS_FILE);
  assert.is(readBookingConfig({ BOOKING_RADIUS_KM: '2.5' }).radiusKm, 2.5);
  for (const [variable, value] of [
    ['BOOKING_RADIUS_KM', 'far'],
    ['BOOKING_TTL_SECONDS', '0'],
    ['BOOKING_SWEEP_MS', '1.5'],
  ] as const) {
    assert.throws(() => readBookingConfig({ [variable]: value }), (e: Error) => e instanceof ConfigError && e.variable === variable);
  }
});

test('occupancy mirror: no work for a driving car, plug-in once, unplug when counted', () => {
  const mirror = new OccupancyMirror();
  const now = 1_000;
  assert.is(mirror.actionFor({ carId: 'CAR-1', stationId: '' }, now), 'none');
  assert.is(mirror.actionFor({ carId: 'CAR-1', stationId: 'ST-1' }, now), 'plug_in');
  mirror.occupy('CAR-1', 'ST-1');
  assert.is(mirror.actionFor({ carId: 'CAR-1', stationId: 'ST-1' }, now), 'none');
  assert.is(mirror.actionFor({ carId: 'CAR-1', stationId: 'ST-2' }, now), 'plug_in');
  assert.is(mirror.actionFor({ carId: 'CAR-1', stationId: '' }, now), 'unplug');
  // A refused plug-in (full station) is not retried on every status, but is after a while.
  mirror.release('CAR-1');
  mirror.refuse('CAR-1', 'ST-3', now);
  assert.is(mirror.actionFor({ carId: 'CAR-1', stationId: 'ST-3' }, now + 1), 'none');
  assert.is(mirror.actionFor({ carId: 'CAR-1', stationId: 'ST-3' }, now + REFUSAL_MEMORY_MS + 1), 'plug_in');
  assert.is(mirror.actionFor({ carId: 'CAR-1', stationId: 'ST-4' }, now + 1), 'plug_in');
});

test('occupancy mirror follows the changes channel and ignores a stale release', () => {
  const mirror = new OccupancyMirror();
  mirror.applyChange(JSON.stringify({ op: 'occupy', car_id: 'CAR-1', station_id: 'ST-1' }));
  assert.is(mirror.stationOf('CAR-1'), 'ST-1');
  mirror.applyChange(JSON.stringify({ op: 'occupy', car_id: 'CAR-1', station_id: 'ST-2' }));
  mirror.applyChange(JSON.stringify({ op: 'release', car_id: 'CAR-1', station_id: 'ST-1' }));
  assert.is(mirror.stationOf('CAR-1'), 'ST-2');
  mirror.applyChange('not json');
  mirror.applyChange(JSON.stringify({ op: 'release', car_id: 'CAR-1', station_id: 'ST-2' }));
  assert.is(mirror.stationOf('CAR-1'), undefined);
  mirror.replaceAll({ 'CAR-9': 'ST-9' });
  assert.is(mirror.size, 1);
});

test.run();
