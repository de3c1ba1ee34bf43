/**
 * A booking's life: expiry returns the slot exactly once with the event and the stream message
 * (delivered by the instance holding the car's stream), plugging in turns it into an occupied slot
 * that never expires, unplugging frees it, and a driving car costs no Redis round trip.
 * Real Redis (database 5) and, for the events, real Kafka on a topic of its own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectRedis, createKafka, ensureTopics, type BookingEvent, type RedisClient } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { BookingStatus } from '@greenlane/common/gen/fleet/fleet';
import type { Station } from '../src/bookings/registry.js';
import { KEYS } from '../src/bookings/keys.js';
import {
  asking,
  freshRedis,
  invariantProblems,
  log,
  openDesk,
  pluggedIn,
  redisUrl,
  sleep,
  status,
  writeRegistry,
  type TestDesk,
} from './bookings-fixture.js';

const DOCK: Station = { id: 'DOCK', name: 'Dock', lat: 40.74, lon: -74.0, slots: 3 };
const PIER: Station = { id: 'PIER', name: 'Pier', lat: 40.745, lon: -74.005, slots: 1 };
const FILE = writeRegistry([DOCK, PIER]);
// Bookings expire after 1 s; every instance sweeps every 50 ms.
const FAST = { STATIONS_FILE: FILE, BOOKING_TTL_SECONDS: '1', BOOKING_SWEEP_MS: '50' };

const life = suite<{ redis: RedisClient; t: TestDesk }>('booking: lifecycle');

life.before.each(async (ctx) => {
  ctx.redis = await freshRedis(5);
  ctx.t = await openDesk(ctx.redis, FAST);
});

life.after.each(async (ctx) => {
  await ctx.t.desk.close();
  assert.equal(await invariantProblems(ctx.redis), []);
  await ctx.redis.close();
});

async function free(redis: RedisClient, station: Station): Promise<number> {
  return Number(await redis.get(KEYS.capacity(station.id)));
}

life('an unused booking expires once: slot back, one event, one stream message from the instance holding the car', async ({ redis, t }) => {
  // A second instance on its own connection; the car's stream is on the first instance only.
  const other = await connectRedis(redisUrl(5), log);
  const second = await openDesk(other, FAST, { connected: () => false });
  try {
    const r = await second.desk.request(asking('CAR-X', DOCK.lat, DOCK.lon, 'DOCK'));
    assert.is(r.status, BookingStatus.BOOKING_CONFIRMED);
    assert.is(await free(redis, DOCK), 2);
    const expired = await waitFor('the expiry event', () => {
      const all = [...t.events, ...second.events].filter((e) => e.event_type === 'booking_expired');
      return all.length > 0 ? all : undefined;
    }, 10_000, 20);
    await waitFor('the stream message', () => t.notices.length > 0, 5_000, 20);
    // Several more sweeps of both instances: nothing more comes back.
    await sleep(600);
    assert.is(await free(redis, DOCK), 3);
    const events = [...t.events, ...second.events].filter((e) => e.event_type === 'booking_expired');
    assert.is(events.length, 1);
    const e = expired[0]!;
    assert.equal(
      { type: e.event_type, car: e.car_id, booking: e.booking_id, station: e.station_id, price: e.price_rate, id: e.event_id },
      { type: 'booking_expired', car: 'CAR-X', booking: r.bookingId, station: 'DOCK', price: 0.31, id: `booking_expired:${r.bookingId}` },
    );
    assert.is(e.message, 'booking at Dock (DOCK) expired: not used within 1 s; the slot was released');
    assert.is(t.notices.length, 1);
    assert.is(second.notices.length, 0);
    const n = t.notices[0]!;
    assert.is(n.carId, 'CAR-X');
    assert.is(n.response.status, BookingStatus.BOOKING_EXPIRED);
    assert.is(n.response.bookingId, r.bookingId);
    assert.is(n.response.stationId, 'DOCK');
    assert.is(n.response.message, e.message);
    // Nothing of the booking is left behind.
    assert.is(await redis.exists(KEYS.booking(r.bookingId)), 0);
    assert.is(await redis.exists(KEYS.bookingMeta(r.bookingId)), 0);
    assert.is(await redis.zCard(KEYS.deadlines), 0);
    assert.is(await redis.zCard(KEYS.outbox), 0);
    assert.is(await redis.hLen(KEYS.byCar), 0);
    // The car may book again.
    const again = await t.desk.request(asking('CAR-X', DOCK.lat, DOCK.lon));
    assert.is(again.status, BookingStatus.BOOKING_CONFIRMED);
    assert.is.not(again.bookingId, r.bookingId);
  } finally {
    await second.desk.close();
    await other.close();
  }
});

life('a booking used by plugging in becomes an occupied slot and never expires; unplugging frees it', async ({ redis, t }) => {
  const r = await t.desk.request(asking('CAR-P', DOCK.lat, DOCK.lon, 'DOCK'));
  assert.is(r.stationId, 'DOCK');
  await t.desk.observe(pluggedIn('CAR-P', DOCK));
  assert.is(await redis.sCard(KEYS.stationOccupied('DOCK')), 1);
  assert.is(await redis.sCard(KEYS.stationBooked('DOCK')), 0);
  assert.is(await free(redis, DOCK), 2);
  assert.is(await redis.exists(KEYS.booking(r.bookingId)), 0);
  // Well past the TTL, with sweeps running and the car still plugged in.
  for (let i = 0; i < 8; i++) {
    await sleep(200);
    await t.desk.observe(pluggedIn('CAR-P', DOCK));
  }
  assert.is(t.events.filter((e) => e.event_type === 'booking_expired').length, 0);
  assert.is(t.notices.length, 0);
  assert.is(await free(redis, DOCK), 2);
  assert.is(await redis.sCard(KEYS.stationOccupied('DOCK')), 1);
  const report = (await t.desk.stationsReport()) as { stations: Array<Record<string, unknown>> };
  assert.equal(
    report.stations.find((s) => s.id === 'DOCK'),
    { id: 'DOCK', name: 'Dock', lat: DOCK.lat, lon: DOCK.lon, slots: 3, free: 2, booked: 0, occupied: 1 },
  );
  // Unplugged: the slot is free again, once.
  await t.desk.observe(status('CAR-P', DOCK.lat, DOCK.lon));
  await t.desk.observe(status('CAR-P', DOCK.lat, DOCK.lon));
  assert.is(await free(redis, DOCK), 3);
  assert.is(await redis.sCard(KEYS.stationOccupied('DOCK')), 0);
  assert.is(await redis.hLen(KEYS.occupying), 0);
});

life('a car without a booking that plugs in takes a free slot; a full station does not count it', async ({ redis, t }) => {
  await t.desk.observe(pluggedIn('WALK-1', PIER));
  assert.is(await free(redis, PIER), 0);
  await t.desk.observe(pluggedIn('WALK-2', PIER));
  assert.is(await free(redis, PIER), 0);
  assert.equal(await redis.sMembers(KEYS.stationOccupied('PIER')), ['WALK-1']);
  // A booking request from a car already plugged in is refused plainly.
  const r = await t.desk.request(asking('WALK-1', PIER.lat, PIER.lon));
  assert.is(r.status, BookingStatus.BOOKING_FAILED);
  assert.is(r.message, 'you are plugged in at Pier (PIER); unplug before booking another slot');
  // Moving to another station without reporting the unplug releases the old slot.
  await t.desk.observe(pluggedIn('WALK-1', DOCK));
  assert.is(await free(redis, PIER), 1);
  assert.is(await free(redis, DOCK), 2);
  await t.desk.observe(status('WALK-1', DOCK.lat, DOCK.lon));
  assert.is(await free(redis, DOCK), 3);
});

life('a booked car plugging in at another station keeps its booking until it expires', async ({ redis, t }) => {
  const r = await t.desk.request(asking('CAR-W', DOCK.lat, DOCK.lon, 'DOCK'));
  await t.desk.observe(pluggedIn('CAR-W', PIER));
  assert.is(await free(redis, PIER), 0);
  assert.is(await free(redis, DOCK), 2);
  await waitFor('the expiry', () => t.events.some((e) => e.event_type === 'booking_expired' && e.booking_id === r.bookingId), 10_000, 20);
  assert.is(await free(redis, DOCK), 3);
  assert.is(await free(redis, PIER), 0);
});

life('the hot path: a driving car with nothing booked or occupied costs no Redis round trip', async ({ redis, t }) => {
  let calls = 0;
  // The desk's expiry sweep (every 50 ms here) runs on the same client; it names no car, so only
  // the scripts about these cars are counted.
  const aboutTheseCars = (options: unknown) => ((options as { arguments?: string[] } | undefined)?.arguments ?? []).some((a) => a.startsWith('DRIVE-'));
  const evalSha = redis.evalSha.bind(redis);
  const evalScript = redis.eval.bind(redis);
  (redis as unknown as { evalSha: typeof evalSha }).evalSha = ((...args: Parameters<typeof evalSha>) => {
    if (aboutTheseCars(args[1])) calls++;
    return evalSha(...args);
  }) as typeof evalSha;
  (redis as unknown as { eval: typeof evalScript }).eval = ((...args: Parameters<typeof evalScript>) => {
    if (aboutTheseCars(args[1])) calls++;
    return evalScript(...args);
  }) as typeof evalScript;
  for (let i = 0; i < 1000; i++) await t.desk.observe(status(`DRIVE-${i}`, 40.75, -73.99));
  assert.is(calls, 0);
  // A car holding a booking but still driving: nothing to do either.
  await t.desk.request(asking('DRIVE-B', DOCK.lat, DOCK.lon));
  calls = 0;
  await t.desk.observe(status('DRIVE-B', 40.75, -73.99));
  assert.is(calls, 0);
  // Plugged in: one script, then nothing more while it stays plugged in at the same station.
  await t.desk.observe(pluggedIn('DRIVE-B', DOCK));
  await t.desk.observe(pluggedIn('DRIVE-B', DOCK));
  assert.is(calls, 1);
  // Unplugged: one script, then nothing.
  await t.desk.observe(status('DRIVE-B', 40.75, -73.99));
  await t.desk.observe(status('DRIVE-B', 40.75, -73.99));
  assert.is(calls, 2);
});

life('another instance learns of an occupied slot and releases it when the car unplugs there', async ({ redis, t }) => {
  const other = await connectRedis(redisUrl(5), log);
  const second = await openDesk(other, FAST);
  try {
    await t.desk.observe(pluggedIn('CAR-M', DOCK));
    assert.is(await free(redis, DOCK), 2);
    // The car reconnects to the second instance and reports itself unplugged.
    await waitFor('the change to reach the second instance', async () => {
      await second.desk.observe(status('CAR-M', DOCK.lat, DOCK.lon));
      return (await free(redis, DOCK)) === 3;
    }, 5_000, 20);
    assert.is(await redis.hLen(KEYS.occupying), 0);
  } finally {
    await second.desk.close();
    await other.close();
  }
});

life('booking events reach Kafka keyed by car id', async ({ redis, t }) => {
  // Only the desk publishing to Kafka may sweep, or the shared one could claim the expiry first.
  await t.desk.close();
  const topic = uniqueName('bookings-events');
  const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'bookings-test', log, quiet: true });
  await ensureTopics(kafka, [{ topic, numPartitions: 3 }]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: uniqueName('bookings-test') });
  await producer.connect();
  await consumer.connect();
  const received: Array<{ key: string; value: BookingEvent }> = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push({ key: String(message.key), value: JSON.parse(String(message.value)) as BookingEvent });
      },
    });
    const publish = async (events: BookingEvent[]) => {
      await producer.send({ topic, acks: -1, messages: events.map((e) => ({ key: e.car_id, value: JSON.stringify(e) })) });
    };
    const kt = await openDesk(redis, FAST, { publish });
    try {
      const ok = await kt.desk.request(asking('CAR-K', PIER.lat, PIER.lon, 'PIER'));
      await kt.desk.request(asking('CAR-J', 40.84, -73.935)); // far from both: fails
      await waitFor('confirmed, failed and expired on the topic', () => received.length >= 3, 30_000);
      const byType = new Map(received.map((r) => [r.value.event_type, r]));
      assert.is(byType.get('booking_confirmed')?.key, 'CAR-K');
      assert.is(byType.get('booking_confirmed')?.value.booking_id, ok.bookingId);
      assert.is(byType.get('booking_confirmed')?.value.station_id, 'PIER');
      assert.is(byType.get('booking_confirmed')?.value.price_rate, 0.31);
      assert.is(byType.get('booking_failed')?.key, 'CAR-J');
      assert.is(byType.get('booking_failed')?.value.message, 'no free slot within 5 km: no charging station in range');
      assert.is(byType.get('booking_expired')?.key, 'CAR-K');
      assert.is(byType.get('booking_expired')?.value.booking_id, ok.bookingId);
      for (const r of received) {
        for (const field of ['event_id', 'car_id', 'booking_id', 'station_id', 'price_rate', 'timestamp']) {
          assert.ok(field in r.value, `${r.value.event_type} lacks ${field}`);
        }
      }
    } finally {
      await kt.desk.close();
    }
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
});

life('a booking whose record something else overwrote expires alone: the others still expire, its slot comes back', async ({ redis, t }) => {
  const good = await t.desk.request(asking('CAR-GOOD', DOCK.lat, DOCK.lon, 'DOCK'));
  const broken = await t.desk.request(asking('CAR-BROKEN', DOCK.lat, DOCK.lon, 'DOCK'));
  assert.is(good.status, BookingStatus.BOOKING_CONFIRMED);
  assert.is(broken.status, BookingStatus.BOOKING_CONFIRMED);
  // Not a hash any more: every command of the sweep on it is refused with WRONGTYPE.
  await redis.del(KEYS.bookingMeta(broken.bookingId));
  await redis.set(KEYS.bookingMeta(broken.bookingId), 'overwritten');

  await waitFor('the good booking expires', () => t.events.some((e) => e.event_type === 'booking_expired' && e.booking_id === good.bookingId), 10_000, 20);
  await waitFor('every slot back', async () => (await free(redis, DOCK)) === 3, 5_000, 20);
  // The car's notice follows the event (Kafka first, then Redis pub/sub to the car's instance).
  await waitFor('the good car told', () => t.notices.some((n) => n.response.bookingId === good.bookingId && n.response.status === BookingStatus.BOOKING_EXPIRED), 5_000, 20);
  assert.equal(await redis.zRange(KEYS.deadlines, 0, -1), []);
  assert.equal(await redis.zRange(KEYS.outbox, 0, -1), []);
  assert.is(await redis.hGet(KEYS.byCar, 'CAR-BROKEN'), null);
  // The car can book again.
  assert.is((await t.desk.request(asking('CAR-BROKEN', DOCK.lat, DOCK.lon, 'DOCK'))).status, BookingStatus.BOOKING_CONFIRMED);
});

life.run();
