/**
 * End to end over real gRPC streams: the ingestion service with its booking desk, 1,000 cars on
 * 1,000 streams asking at the same moment for a station with 10 free slots. Exactly 10
 * confirmations on the streams, the invariant before/during/after, the expiry notice pushed down
 * each holder's open stream, the events on Kafka and the operators' report on the HTTP port.
 * Real Redis (database 9), real Kafka (a topic of its own).
 */
import { createServer, type Server } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { credentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { createKafka, DEFAULTS, type BookingEvent, type RedisClient } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { freePort } from '@greenlane/common/testing-kafka';
import { BookingStatus, FleetServiceClient, type BookingResponse, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { loadConfig } from '../src/config.js';
import { startIngestion, type Ingestion } from '../src/server.js';
import type { Station } from '../src/bookings/registry.js';
import { asking, freshRedis, invariantProblems, log, offset, redisUrl, writeRegistry } from './bookings-fixture.js';

const HOT: Station = { id: 'HOT', name: 'Hot Spot', lat: 40.76, lon: -73.98, slots: 10 };
const ELSEWHERE: Station = { id: 'ELSEWHERE', name: 'Elsewhere', lat: 40.845, lon: -73.935, slots: 7 };
const CARS = 1000;
const CHANNELS = 10;
const PRICE = 0.27;

interface Car {
  id: string;
  stream: ClientDuplexStream<CarStatus, BookingResponse>;
  responses: BookingResponse[];
}

const e2e = suite<{ redis: RedisClient; grid: Server; ingestion: Ingestion; topic: string; clients: FleetServiceClient[]; cars: Car[] }>(
  'booking: end to end over gRPC',
);

/** The grid's price endpoint, pinned, so the booking's price_rate is known. */
function gridStub(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ timestamp: Date.now(), price_per_kwh: PRICE, grid_load: 'Medium', energy_source: 'Wind', hour: 19 });
    res.writeHead(req.url?.startsWith('/api/pricing') || req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
    }),
  );
}

e2e.before(async (ctx) => {
  ctx.redis = await freshRedis(9);
  const grid = await gridStub();
  ctx.grid = grid.server;
  const env = {
    INGESTION_ADDR: `127.0.0.1:${await freePort()}`,
    INGESTION_HTTP_ADDR: `127.0.0.1:${await freePort()}`,
    REDIS_URL: redisUrl(9),
    KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
    FLEET_EVENTS_TOPIC: uniqueName('bookings-e2e'),
    FLEET_EVENTS_PARTITIONS: '3',
    GRID_URL: grid.url,
    STATIONS_FILE: writeRegistry([HOT, ELSEWHERE]),
    // Long enough that the bookings are still live when the report is read, after all 1,000
    // answers and the invariant checks, on a slow machine too.
    BOOKING_TTL_SECONDS: '12',
    BOOKING_SWEEP_MS: '100',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  ctx.topic = env.FLEET_EVENTS_TOPIC;
  ctx.ingestion = await startIngestion(loadConfig(env), log, env, { defaultMetrics: false });
  const address = `127.0.0.1:${ctx.ingestion.grpcPort}`;
  ctx.clients = Array.from({ length: CHANNELS }, () => new FleetServiceClient(address, credentials.createInsecure()));
  const metadata = new Metadata();
  metadata.set('x-api-token', DEFAULTS.API_TOKEN);
  ctx.cars = Array.from({ length: CARS }, (_, i) => {
    const stream = ctx.clients[i % CHANNELS]!.streamTelemetry(metadata);
    const car: Car = { id: `E2E-${i}`, stream, responses: [] };
    stream.on('data', (r: BookingResponse) => car.responses.push(r));
    stream.on('error', () => undefined);
    return car;
  });
});

e2e.after(async (ctx) => {
  for (const car of ctx.cars) car.stream.cancel();
  for (const c of ctx.clients) c.close();
  await ctx.ingestion.stop();
  await new Promise((resolve) => ctx.grid.close(resolve));
  await ctx.redis.close();
  const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'bookings-e2e', log, quiet: true });
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [ctx.topic] }).catch(() => undefined);
  await admin.disconnect();
});

e2e('1,000 cars on 1,000 streams ask for 10 slots at once: 10 confirmations, invariant always, expiry pushed down the streams', async (ctx) => {
  const { redis, cars } = ctx;
  assert.equal(await invariantProblems(redis), [], 'before');
  let asked = false;
  let problems: string[] = [];
  const watching = (async () => {
    while (!asked || cars.some((c) => c.responses.length === 0)) problems = problems.concat(await invariantProblems(redis));
  })();
  cars.forEach((car, i) => {
    const spot = offset(HOT.lat, HOT.lon, ((i % 40) - 20) * 0.05, (Math.floor(i / 40) - 12) * 0.05);
    car.stream.write(asking(car.id, spot.lat, spot.lon, i % 2 === 0 ? 'HOT' : ''));
  });
  asked = true;
  await waitFor('an answer on every stream', () => cars.every((c) => c.responses.length >= 1), 60_000, 50);
  await watching;
  assert.equal(problems, [], 'during');
  assert.equal(await invariantProblems(redis), [], 'after');

  const answers = cars.map((c) => c.responses[0]!);
  const confirmed = answers.filter((r) => r.status === BookingStatus.BOOKING_CONFIRMED);
  const failed = answers.filter((r) => r.status === BookingStatus.BOOKING_FAILED);
  assert.is(confirmed.length, 10);
  assert.is(failed.length, CARS - 10);
  assert.ok(confirmed.every((r) => r.stationId === 'HOT' && r.priceRate === PRICE && r.bookingId !== ''));
  assert.ok(failed.every((r) => r.message.startsWith('no free slot within 5 km')));
  assert.ok(answers.every((r, i) => r.carId === cars[i]!.id));

  // The operators' view over HTTP while the bookings are live.
  const report = (await (await fetch(`http://127.0.0.1:${ctx.ingestion.httpPort}/api/v1/stations`)).json()) as {
    totals: Record<string, number>;
    bookings: Array<{ car_id: string }>;
  };
  assert.equal(report.totals, { stations: 2, slots: 17, free: 7, booked: 10, occupied: 0 });
  assert.equal(report.bookings.map((b) => b.car_id).sort(), confirmed.map((r) => r.carId).sort());

  // Nobody uses the slot: each holder gets BOOKING_EXPIRED on its open stream, once.
  const holders = new Set(confirmed.map((r) => r.carId));
  await waitFor('the expiry notices', () => cars.filter((c) => holders.has(c.id)).every((c) => c.responses.length >= 2), 40_000, 50);
  for (const car of cars) {
    const expired = car.responses.filter((r) => r.status === BookingStatus.BOOKING_EXPIRED);
    if (holders.has(car.id)) {
      assert.is(expired.length, 1, car.id);
      assert.is(expired[0]!.bookingId, car.responses[0]!.bookingId);
    } else {
      assert.is(expired.length, 0, car.id);
    }
  }
  assert.is(await redis.get('station:HOT:capacity'), '10');
  assert.equal(await invariantProblems(redis), []);

  // The booking events on the service's topic, keyed by car id.
  const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'bookings-e2e', log, quiet: true });
  const consumer = kafka.consumer({ groupId: uniqueName('bookings-e2e') });
  const counts = new Map<string, number>();
  let keyed = true;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: ctx.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const event = JSON.parse(String(message.value)) as BookingEvent | { event_type: 'telemetry' };
        counts.set(event.event_type, (counts.get(event.event_type) ?? 0) + 1);
        if ('car_id' in event && String(message.key) !== event.car_id) keyed = false;
      },
    });
    await waitFor('the booking events', () => (counts.get('booking_expired') ?? 0) >= 10 && (counts.get('booking_failed') ?? 0) >= CARS - 10, 30_000);
    assert.is(counts.get('booking_confirmed'), 10);
    assert.is(counts.get('booking_failed'), CARS - 10);
    assert.is(counts.get('booking_expired'), 10);
    assert.ok(keyed, 'every event keyed by its car id');
  } finally {
    await consumer.disconnect();
  }
});

e2e.run();
