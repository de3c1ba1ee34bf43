/**
 * Which station a booking gets: the nearest free one on a fixture with known distances, a full
 * station skipped, the preferred one when free, and a clear failure when nothing is in range.
 * Real Redis, database 6.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RedisClient } from '@greenlane/common';
import { BookingStatus } from '@greenlane/common/gen/fleet/fleet';
import type { Station } from '../src/bookings/registry.js';
import { KEYS } from '../src/bookings/keys.js';
import { createBookingDesk } from '../src/bookings/index.js';
import { asking, freshRedis, invariantProblems, log, offset, openDesk, writeRegistry, type TestDesk } from './bookings-fixture.js';

// The car waits at CAR_AT; stations at known distances from it.
const CAR_AT = { lat: 40.75, lon: -73.99 };
const at = (kmNorth: number, kmEast: number) => offset(CAR_AT.lat, CAR_AT.lon, kmNorth, kmEast);
const STATIONS: Station[] = [
  { id: 'NEAR', name: 'Near (0.5 km N)', ...at(0.5, 0), slots: 1 },
  { id: 'MID', name: 'Mid (1 km E)', ...at(0, 1), slots: 2 },
  { id: 'SOUTH', name: 'South (2 km S)', ...at(-2, 0), slots: 3 },
  { id: 'FAR', name: 'Far (8 km N)', ...at(8, 0), slots: 5 },
];

const choice = suite<{ redis: RedisClient; t: TestDesk }>('booking: station choice');

choice.before.each(async (ctx) => {
  ctx.redis = await freshRedis(6);
  ctx.t = await openDesk(ctx.redis, { STATIONS_FILE: writeRegistry(STATIONS), BOOKING_RADIUS_KM: '5' });
});

choice.after.each(async (ctx) => {
  await ctx.t.desk.close();
  assert.equal(await invariantProblems(ctx.redis), []);
  await ctx.redis.close();
});

choice('stations are loaded into the contract keys', async ({ redis }) => {
  assert.is(await redis.zCard(KEYS.stationsGeo), STATIONS.length);
  for (const s of STATIONS) assert.is(await redis.get(KEYS.capacity(s.id)), String(s.slots));
  const pos = await redis.geoPos(KEYS.stationsGeo, 'MID');
  assert.ok(pos[0] && Math.abs(Number(pos[0].latitude) - STATIONS[1]!.lat) < 1e-4);
});

choice('nearest free station first, a full one skipped, in distance order', async ({ redis, t }) => {
  const got: string[] = [];
  for (const car of ['CAR-A', 'CAR-B', 'CAR-C', 'CAR-D', 'CAR-E', 'CAR-F']) {
    const r = await t.desk.request(asking(car, CAR_AT.lat, CAR_AT.lon));
    assert.is(r.status, BookingStatus.BOOKING_CONFIRMED, r.message);
    assert.is(r.carId, car);
    assert.is(r.priceRate, 0.31);
    assert.ok(r.bookingId.length > 0);
    assert.is(await redis.get(KEYS.booking(r.bookingId)), car, 'booking:{id} holds the car id');
    const ttl = await redis.ttl(KEYS.booking(r.bookingId));
    assert.ok(ttl > 1190 && ttl <= 1200, `TTL ${ttl}`);
    got.push(r.stationId);
  }
  // NEAR has 1 slot, MID 2, SOUTH 3; FAR is outside the 5 km radius.
  assert.equal(got, ['NEAR', 'MID', 'MID', 'SOUTH', 'SOUTH', 'SOUTH']);
  const first = t.events.find((e) => e.car_id === 'CAR-A');
  assert.is(first?.event_type, 'booking_confirmed');
  assert.is(first?.station_id, 'NEAR');
  assert.match(String(first?.message), 'slot reserved at Near (0.5 km N) (NEAR), 500 m away; held for 20 min');

  // Everything in range is now full: a clear failure, FAR (8 km) is not offered.
  const r = await t.desk.request(asking('CAR-G', CAR_AT.lat, CAR_AT.lon));
  assert.is(r.status, BookingStatus.BOOKING_FAILED);
  assert.is(r.message, 'no free slot within 5 km: all 3 stations in range are full');
  assert.is(r.bookingId, '');
  const failed = t.events.at(-1);
  assert.is(failed?.event_type, 'booking_failed');
  assert.is(failed?.car_id, 'CAR-G');
  assert.is(await redis.get(KEYS.capacity('FAR')), '5');
});

choice('preferred station when free, nearest when it is full or unknown', async ({ t }) => {
  const preferred = await t.desk.request(asking('CAR-P', CAR_AT.lat, CAR_AT.lon, 'SOUTH'));
  assert.is(preferred.stationId, 'SOUTH');
  // Preferred even beyond the radius: the driver chose it.
  const far = await t.desk.request(asking('CAR-Q', CAR_AT.lat, CAR_AT.lon, 'FAR'));
  assert.is(far.stationId, 'FAR');
  await t.desk.request(asking('CAR-R', CAR_AT.lat, CAR_AT.lon, 'NEAR'));
  const fallback = await t.desk.request(asking('CAR-S', CAR_AT.lat, CAR_AT.lon, 'NEAR'));
  assert.is(fallback.status, BookingStatus.BOOKING_CONFIRMED);
  assert.is(fallback.stationId, 'MID');
  assert.match(fallback.message, /^NEAR is full; slot reserved at Mid \(1 km E\) \(MID\), 1 km away/);
  const unknown = await t.desk.request(asking('CAR-T', CAR_AT.lat, CAR_AT.lon, 'NOPE'));
  assert.is(unknown.stationId, 'MID');
  assert.match(unknown.message, /^no station NOPE; slot reserved at/);
});

choice('nothing within the radius: a failure the driver understands', async ({ redis }) => {
  await (await openDesk(redis, { STATIONS_FILE: writeRegistry(STATIONS), BOOKING_RADIUS_KM: '1' })).desk.close();
  const t = await openDesk(redis, { STATIONS_FILE: writeRegistry(STATIONS), BOOKING_RADIUS_KM: '1' });
  try {
    const lonely = offset(CAR_AT.lat, CAR_AT.lon, 4, 3); // 5 km from NEAR/MID/SOUTH, 4.9 from FAR
    const r = await t.desk.request(asking('CAR-L', lonely.lat, lonely.lon));
    assert.is(r.status, BookingStatus.BOOKING_FAILED);
    assert.is(r.message, 'no free slot within 1 km: no charging station in range');
    assert.is(t.events.length, 1);
    assert.is(t.events[0]?.event_type, 'booking_failed');
    assert.is(t.events[0]?.message, r.message);
  } finally {
    await t.desk.close();
  }
});

choice('a car holds one booking: asking again returns the one it holds', async ({ redis, t }) => {
  const first = await t.desk.request(asking('CAR-H', CAR_AT.lat, CAR_AT.lon));
  const again = await t.desk.request(asking('CAR-H', CAR_AT.lat, CAR_AT.lon, 'SOUTH'));
  assert.is(again.status, BookingStatus.BOOKING_CONFIRMED);
  assert.is(again.bookingId, first.bookingId);
  assert.is(again.stationId, first.stationId);
  assert.match(again.message, /^you already hold a slot at Near/);
  assert.is(await redis.get(KEYS.capacity('NEAR')), '0');
  assert.is(await redis.get(KEYS.capacity('SOUTH')), '3');
  // The re-published confirmation carries the same event_id, so consumers drop the duplicate.
  assert.is(t.events.length, 2);
  assert.is(t.events[0]?.event_id, t.events[1]?.event_id);
});

choice('the grid price is what the booking carries; an unavailable price still books', async ({ redis }) => {
  const broken = await openDesk(redis, { STATIONS_FILE: writeRegistry(STATIONS) }, { price: Number.NaN });
  try {
    const r = await broken.desk.request(asking('CAR-N', CAR_AT.lat, CAR_AT.lon));
    assert.is(r.status, BookingStatus.BOOKING_CONFIRMED);
    assert.is(r.priceRate, 0);
    assert.match(r.message, 'current price unavailable');
  } finally {
    await broken.desk.close();
  }
});

choice('a burst of requests asks the grid once for its price', async ({ redis }) => {
  let calls = 0;
  const desk = await createBookingDesk({
    redis,
    log,
    env: { STATIONS_FILE: writeRegistry(STATIONS) },
    publish: async () => undefined,
    notifyCar: () => false,
    currentPrice: async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return 0.42;
    },
  });
  try {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => desk.request(asking(`CAR-${i}`, CAR_AT.lat, CAR_AT.lon))));
    assert.is(calls, 1);
    assert.ok(answers.filter((r) => r.status === BookingStatus.BOOKING_CONFIRMED).every((r) => r.priceRate === 0.42));
    assert.is(answers.filter((r) => r.status === BookingStatus.BOOKING_CONFIRMED).length, 6);
  } finally {
    await desk.close();
  }
});

choice('operators report: per-station counters and the live bookings', async ({ t }) => {
  const r = await t.desk.request(asking('CAR-O', CAR_AT.lat, CAR_AT.lon));
  const report = (await t.desk.stationsReport()) as {
    totals: Record<string, number>;
    stations: Array<Record<string, unknown>>;
    bookings: Array<Record<string, unknown>>;
  };
  assert.equal(report.totals, { stations: 4, slots: 11, free: 10, booked: 1, occupied: 0 });
  const near = report.stations.find((s) => s.id === 'NEAR');
  assert.equal(near, { id: 'NEAR', name: 'Near (0.5 km N)', lat: STATIONS[0]!.lat, lon: STATIONS[0]!.lon, slots: 1, free: 0, booked: 1, occupied: 0 });
  assert.is(report.bookings.length, 1);
  assert.is(report.bookings[0]?.booking_id, r.bookingId);
  assert.is(report.bookings[0]?.car_id, 'CAR-O');
  assert.is(report.bookings[0]?.station_id, 'NEAR');
  assert.is(report.bookings[0]?.price_rate, 0.31);
  assert.ok(Number(report.bookings[0]?.expires_in_s) > 1190);
});

choice.run();
