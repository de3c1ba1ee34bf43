/**
 * Restarts: a new desk on the same Redis (the old one closed, or abandoned in the middle of its
 * work) resets no booked or occupied slot, finishes what the old one left, and leaks nothing.
 * Real Redis, database 8.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectRedis, type RedisClient } from '@greenlane/common';
import { BookingStatus } from '@greenlane/common/gen/fleet/fleet';
import type { Station } from '../src/bookings/registry.js';
import { KEYS } from '../src/bookings/keys.js';
import { SCRIPTS } from '../src/bookings/scripts.js';
import {
  asking,
  freshRedis,
  invariantProblems,
  log,
  openDesk,
  pluggedIn,
  redisUrl,
  snapshot,
  status,
  writeRegistry,
  sleep,
} from './bookings-fixture.js';
import { waitFor } from '@greenlane/common/testing';

const BIG: Station = { id: 'BIG', name: 'Big', lat: 40.78, lon: -73.97, slots: 6 };
const SMALL: Station = { id: 'SMALL', name: 'Small', lat: 40.782, lon: -73.975, slots: 2 };
const SIDE: Station = { id: 'SIDE', name: 'Side', lat: 40.776, lon: -73.965, slots: 4 };
const STATIONS = [BIG, SMALL, SIDE];

const restart = suite<{ redis: RedisClient }>('booking: restarts');

restart.before.each(async (ctx) => {
  ctx.redis = await freshRedis(8);
});

restart.after.each(async (ctx) => {
  assert.equal(await invariantProblems(ctx.redis), []);
  await ctx.redis.close();
});

async function free(redis: RedisClient, id: string): Promise<number> {
  return Number(await redis.get(KEYS.capacity(id)));
}

restart('a restart keeps booked and occupied slots; the new desk carries on with them', async ({ redis }) => {
  const file = writeRegistry(STATIONS);
  const a = await openDesk(redis, { STATIONS_FILE: file });
  const b1 = await a.desk.request(asking('CAR-1', BIG.lat, BIG.lon, 'BIG'));
  await a.desk.request(asking('CAR-2', BIG.lat, BIG.lon, 'BIG'));
  await a.desk.request(asking('CAR-3', BIG.lat, BIG.lon, 'BIG'));
  await a.desk.observe(pluggedIn('CAR-3', BIG)); // booking used
  await a.desk.observe(pluggedIn('CAR-4', BIG)); // walk-in
  assert.is(await free(redis, 'BIG'), 2);
  await a.desk.close();

  const b = await openDesk(redis, { STATIONS_FILE: file });
  try {
    assert.is(await free(redis, 'BIG'), 2, 'the restart did not reset capacity');
    const big = (await snapshot(redis)).stations.find((s) => s.id === 'BIG');
    assert.equal(big, { id: 'BIG', slots: 6, free: 2, booked: 2, occupied: 2 });
    // The new desk knows who holds what: asking again returns the held booking...
    const again = await b.desk.request(asking('CAR-1', BIG.lat, BIG.lon));
    assert.is(again.bookingId, b1.bookingId);
    // ...and who occupies a slot, so an unplug reported to it frees the slot.
    await b.desk.observe(status('CAR-4', BIG.lat, BIG.lon));
    assert.is(await free(redis, 'BIG'), 3);
  } finally {
    await b.desk.close();
  }

  // A registry with more slots at BIG: the new ones are free, the held ones stay held.
  const grown = await openDesk(redis, { STATIONS_FILE: writeRegistry([{ ...BIG, slots: 8 }, SMALL, SIDE]) });
  try {
    const big = (await snapshot(redis)).stations.find((s) => s.id === 'BIG');
    assert.equal(big, { id: 'BIG', slots: 8, free: 5, booked: 2, occupied: 1 });
  } finally {
    await grown.desk.close();
  }
});

restart('an instance that died after claiming expiries: slots came back once, another instance delivers the notices', async ({ redis }) => {
  const file = writeRegistry(STATIONS);
  // The first desk sweeps only once a minute: it is "down" as far as expiry goes.
  const a = await openDesk(redis, { STATIONS_FILE: file, BOOKING_TTL_SECONDS: '1', BOOKING_SWEEP_MS: '60000' });
  const r1 = await a.desk.request(asking('CAR-E1', SMALL.lat, SMALL.lon, 'SMALL'));
  const r2 = await a.desk.request(asking('CAR-E2', SMALL.lat, SMALL.lon, 'SMALL'));
  assert.is(await free(redis, 'SMALL'), 0);
  await a.desk.close();
  await sleep(1100);
  // What a dying instance does: its sweep claims the due expiries, then it never delivers them.
  const claim = (await SCRIPTS.sweep.run(redis, [Date.now(), 800, 100])) as { released: number; claimed: unknown[] };
  assert.is(claim.released, 2);
  assert.is(claim.claimed.length, 2);
  assert.is(await free(redis, 'SMALL'), 2);
  assert.is(await redis.zCard(KEYS.outbox), 2);

  const b = await openDesk(redis, { STATIONS_FILE: file, BOOKING_TTL_SECONDS: '1', BOOKING_SWEEP_MS: '50' });
  try {
    await waitFor('the orphaned expiries: events and stream notices', () => b.events.length === 2 && b.notices.length === 2, 10_000, 20);
    assert.equal(b.events.map((e) => e.booking_id).sort(), [r1.bookingId, r2.bookingId].sort());
    assert.ok(b.events.every((e) => e.event_type === 'booking_expired'));
    assert.equal(b.notices.map((n) => n.carId).sort(), ['CAR-E1', 'CAR-E2']);
    await waitFor('the outbox to empty', async () => (await redis.zCard(KEYS.outbox)) === 0, 5_000, 20);
    await sleep(300);
    assert.is(b.events.length, 2);
    assert.is(await free(redis, 'SMALL'), 2, 'returned exactly once');
    assert.is(await redis.exists(KEYS.bookingMeta(r1.bookingId)), 0);
  } finally {
    await b.desk.close();
  }
});

restart('an instance killed in the middle of a booking storm leaks nothing', async ({ redis }) => {
  const file = writeRegistry(STATIONS);
  const env = { STATIONS_FILE: file, BOOKING_TTL_SECONDS: '1', BOOKING_SWEEP_MS: '50' };
  const doomedClient = await connectRedis(redisUrl(8), log);
  const doomed = await openDesk(doomedClient, { ...env, BOOKING_SWEEP_MS: '60000' });
  const storm = Array.from({ length: 300 }, (_, i) =>
    doomed.desk.request(asking(`STORM-${i}`, BIG.lat, BIG.lon, i % 3 === 0 ? 'SMALL' : '')).then(
      (r) => r.status,
      () => 'lost' as const,
    ),
  );
  // Some cars also plug in and out meanwhile.
  const plugs = Array.from({ length: 30 }, (_, i) => doomed.desk.observe(pluggedIn(`PLUG-${i}`, SIDE)));
  await Promise.race([storm[20], sleep(50)]);
  // The connection drops with commands in flight, as when the process is killed.
  doomedClient.destroy();
  const outcomes = await Promise.all(storm);
  await Promise.all(plugs);
  assert.ok(outcomes.some((o) => o === BookingStatus.BOOKING_CONFIRMED), 'some bookings went through before the kill');
  assert.equal(await invariantProblems(redis), [], 'right after the kill');
  const held = await snapshot(redis);
  const bookedBefore = held.stations.reduce((n, s) => n + s.booked, 0);
  assert.ok(bookedBefore > 0);

  // The replacement instance expires what the dead one booked; the plugged-in cars unplug.
  const next = await openDesk(redis, env);
  try {
    for (let i = 0; i < 30; i++) await next.desk.observe(status(`PLUG-${i}`, SIDE.lat, SIDE.lon));
    await waitFor('every booking to expire', async () => (await redis.zCard(KEYS.deadlines)) === 0 && (await redis.zCard(KEYS.outbox)) === 0, 10_000, 50);
    const after = await snapshot(redis);
    for (const s of after.stations) assert.equal(s, { ...s, free: s.slots, booked: 0, occupied: 0 }, `${s.id} got all its slots back`);
    assert.is(next.events.filter((e) => e.event_type === 'booking_expired').length, bookedBefore);
    assert.is(await redis.hLen(KEYS.byCar), 0);
    assert.is(await redis.hLen(KEYS.occupying), 0);
  } finally {
    await next.desk.close();
    await doomed.desk.close().catch(() => undefined);
  }
});

restart.run();
