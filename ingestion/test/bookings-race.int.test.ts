/**
 * The race: 1,000 cars ask at the same moment for a station with 10 free slots, through four desks
 * (four instances, four Redis connections). Exactly 10 confirmations, and for every station
 * free + booked + occupied = slots before, during (sampled continuously by another connection)
 * and after. Real Redis, database 7.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectRedis, type RedisClient } from '@greenlane/common';
import { BookingStatus, type BookingResponse } from '@greenlane/common/gen/fleet/fleet';
import type { Station } from '../src/bookings/registry.js';
import { KEYS } from '../src/bookings/keys.js';
import { asking, freshRedis, invariantProblems, log, offset, openDesk, redisUrl, writeRegistry, type TestDesk } from './bookings-fixture.js';

const HOT = { id: 'HOT', name: 'Hot Spot', lat: 40.76, lon: -73.98, slots: 10 };
// Outside the 5 km radius of the cars, so every request competes for HOT's 10 slots.
const ELSEWHERE = { id: 'ELSEWHERE', name: 'Elsewhere', lat: 40.845, lon: -73.935, slots: 7 };
const STATIONS: Station[] = [HOT, ELSEWHERE];
const CARS = 1000;
const INSTANCES = 4;

const race = suite<{ clients: RedisClient[]; desks: TestDesk[]; watcher: RedisClient }>('booking: the race');

race.before(async (ctx) => {
  const first = await freshRedis(7);
  ctx.clients = [first];
  for (let i = 1; i < INSTANCES; i++) ctx.clients.push(await connectRedis(redisUrl(7), log));
  const file = writeRegistry(STATIONS);
  ctx.desks = [];
  for (const client of ctx.clients) ctx.desks.push(await openDesk(client, { STATIONS_FILE: file }));
  ctx.watcher = await connectRedis(redisUrl(7), log);
});

race.after(async (ctx) => {
  for (const t of ctx.desks) await t.desk.close();
  for (const c of [...ctx.clients, ctx.watcher]) await c.close();
});

/** Samples the invariant on its own connection until `done` resolves; returns every violation seen. */
async function watch(redis: RedisClient, done: Promise<unknown>): Promise<{ samples: number; problems: string[] }> {
  let finished = false;
  void done.finally(() => (finished = true));
  const problems: string[] = [];
  let samples = 0;
  while (!finished) {
    problems.push(...(await invariantProblems(redis)));
    samples++;
  }
  return { samples, problems };
}

function ask(desks: TestDesk[]): Promise<BookingResponse[]> {
  return Promise.all(
    Array.from({ length: CARS }, (_, i) => {
      const spot = offset(HOT.lat, HOT.lon, ((i % 40) - 20) * 0.05, (Math.floor(i / 40) - 12) * 0.05);
      // Half name HOT as their preferred station, half ask for the nearest.
      const status = asking(`RACE-${i}`, spot.lat, spot.lon, i % 2 === 0 ? 'HOT' : '');
      return desks[i % desks.length]!.desk.request(status);
    }),
  );
}

race('1,000 simultaneous requests for 10 slots: exactly 10 confirmations, invariant always', async ({ clients, desks, watcher }) => {
  assert.equal(await invariantProblems(watcher), [], 'before');
  const requests = ask(desks);
  const watched = watch(watcher, requests);
  const responses = await requests;
  const { samples, problems } = await watched;
  assert.equal(problems, [], 'during');
  assert.ok(samples > 0);
  assert.equal(await invariantProblems(watcher), [], 'after');

  const confirmed = responses.filter((r) => r.status === BookingStatus.BOOKING_CONFIRMED);
  const failed = responses.filter((r) => r.status === BookingStatus.BOOKING_FAILED);
  assert.is(confirmed.length, 10);
  assert.is(failed.length, CARS - 10);
  assert.ok(confirmed.every((r) => r.stationId === 'HOT'));
  assert.is(new Set(confirmed.map((r) => r.bookingId)).size, 10);
  assert.is(new Set(confirmed.map((r) => r.carId)).size, 10);
  for (const r of failed) {
    assert.match(r.message, /^no free slot within 5 km: the one station in range is full(; HOT is full)?$/);
  }
  assert.is(await clients[0]!.get(KEYS.capacity('HOT')), '0');
  assert.is(await clients[0]!.sCard(KEYS.stationBooked('HOT')), 10);
  assert.is(await clients[0]!.get(KEYS.capacity('ELSEWHERE')), '7');
  for (const r of confirmed) assert.is(await clients[0]!.get(KEYS.booking(r.bookingId)), r.carId);

  const events = desks.flatMap((t) => t.events);
  assert.is(events.filter((e) => e.event_type === 'booking_confirmed').length, 10);
  assert.is(events.filter((e) => e.event_type === 'booking_failed').length, CARS - 10);
  assert.is(new Set(events.map((e) => e.event_id)).size, CARS);
});

race('the same 1,000 cars ask again: the 10 holders keep their bookings, nobody gets an 11th slot', async ({ desks, watcher }) => {
  const before = new Map<string, string>();
  for (const e of desks.flatMap((t) => t.events)) if (e.event_type === 'booking_confirmed') before.set(e.car_id, e.booking_id);
  const requests = ask([...desks].reverse());
  const watched = watch(watcher, requests);
  const responses = await requests;
  assert.equal((await watched).problems, []);
  const confirmed = responses.filter((r) => r.status === BookingStatus.BOOKING_CONFIRMED);
  assert.is(confirmed.length, 10);
  for (const r of confirmed) assert.is(r.bookingId, before.get(r.carId));
  assert.equal(await invariantProblems(watcher), []);
  const report = (await desks[0]!.desk.stationsReport()) as { totals: Record<string, number>; bookings: unknown[] };
  assert.equal(report.totals, { stations: 2, slots: 17, free: 7, booked: 10, occupied: 0 });
  assert.is(report.bookings.length, 10);
});

race.run();
