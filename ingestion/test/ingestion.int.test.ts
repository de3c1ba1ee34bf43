/**
 * The service against the real Redis (database 2) and Kafka (a topic per run): what a car sends is
 * acknowledged once, indexed and emitted; bad input is answered and leaves no trace; nobody gets in
 * without a token; the operations port tells the truth; two instances share the work.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeGenericClientConstructor, credentials, status as GrpcStatus, type Metadata } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { connectRedis, type RedisClient } from '@greenlane/common';
import { uniqueName, waitFor } from '@greenlane/common/testing';
import { BookingStatus, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import {
  carStatus,
  client,
  deleteTopic,
  log,
  openStream,
  readTopic,
  redisUrl,
  startService,
  tokenMetadata,
  type TestService,
} from './helpers.js';

const DB = 2;
const it = suite<{ svc: TestService; redis: RedisClient; topics: string[] }>('ingestion');

it.before(async (ctx) => {
  ctx.svc = await startService(DB);
  ctx.redis = await connectRedis(redisUrl(DB), log);
  ctx.topics = [ctx.svc.topic];
});

it.after(async (ctx) => {
  await ctx.svc.ingestion.stop();
  for (const topic of ctx.topics) await deleteTopic(topic);
  await ctx.redis.quit();
});

it('N messages on a stream → N acks in order, N positions in fleet:locations, N contract events', async ({ svc, redis }) => {
  const N = 300;
  const prefix = uniqueName('CAR');
  const c = client(svc.address);
  const stream = openStream(c);
  const sent: CarStatus[] = [];
  for (let i = 0; i < N; i++) {
    const s = carStatus(`${prefix}-${i}`, i);
    sent.push(s);
    stream.call.write(s);
  }
  await waitFor('N acks', () => stream.responses.length >= N);
  stream.call.end();
  assert.is((await stream.ended).code, GrpcStatus.OK);
  c.close();

  assert.is(stream.responses.length, N);
  stream.responses.forEach((r, i) => {
    assert.is(r.status, BookingStatus.BOOKING_UNKNOWN);
    assert.is(r.carId, sent[i]!.carId);
    assert.is(r.timestamp, sent[i]!.timestamp);
  });

  const positions = await redis.geoPos('fleet:locations', sent.map((s) => s.carId));
  assert.is(positions.filter((p) => p !== null).length, N);
  const first = positions[0]!;
  assert.ok(Math.abs(Number(first.latitude) - sent[0]!.latitude) < 1e-5);
  assert.ok(Math.abs(Number(first.longitude) - sent[0]!.longitude) < 1e-5);
  const hash = await redis.hGetAll(`car:${sent[7]!.carId}`);
  assert.is(Number(hash.battery), sent[7]!.batteryLevel);
  assert.is(Number(hash.velocity), sent[7]!.velocity);
  assert.is(Number(hash.timestamp), sent[7]!.timestamp);

  const events = await readTopic(svc.topic, N);
  assert.is(events.length, N);
  const byCar = new Map(events.map((e) => [e.key, e.value]));
  assert.is(byCar.size, N);
  for (const s of sent) {
    const e = byCar.get(s.carId)!;
    assert.ok(e !== undefined, `event for ${s.carId}`);
    assert.is(e.event_type, 'telemetry');
    assert.is(e.car_id, s.carId);
    assert.is(e.lat, s.latitude);
    assert.is(e.lon, s.longitude);
    assert.is(e.battery, s.batteryLevel);
    assert.is(e.velocity, s.velocity);
    assert.is(e.timestamp, s.timestamp);
    assert.match(String(e.event_id), /^[0-9a-f]{32}$/);
  }
  assert.is(new Set(events.map((e) => e.value.event_id)).size, N);
});

it('each kind of bad input gets BOOKING_FAILED naming field, value and rule; nothing stored; stream stays open', async ({ svc, redis }) => {
  const prefix = uniqueName('BAD');
  const now = Date.now();
  const bad: Array<[CarStatus, RegExp]> = [
    [carStatus(`${prefix}-lat`, 0, { latitude: 123 }), /invalid latitude=123: must be a number from -90 to 90/],
    [carStatus(`${prefix}-lon`, 0, { longitude: -200 }), /invalid longitude=-200/],
    [carStatus(`${prefix}-bat`, 0, { batteryLevel: 101 }), /invalid battery_level=101: must be a number from 0 to 100/],
    [carStatus(`${prefix}-vel`, 0, { velocity: -5 }), /invalid velocity=-5/],
    [carStatus(`${prefix}-ts`, 0, { timestamp: 1_700_000_000 }), /invalid timestamp=1700000000: must be unix epoch milliseconds after 2000/],
    [carStatus(`${prefix}-fut`, 0, { timestamp: now + 3 * 86_400_000 }), /invalid timestamp=\d+: must not be more than 24 h ahead/],
    [carStatus(`${prefix}-chg`, 0, { charging: true }), /invalid charging=true: requires station_id/],
    [carStatus('', 0), /invalid car_id="": must not be empty/],
    [carStatus(`${prefix} space`, 0), /invalid car_id=".*": may contain only/],
  ];
  const good = carStatus(`${prefix}-good`, 1);
  const c = client(svc.address);
  const stream = openStream(c);
  for (const [s] of bad) stream.call.write(s);
  stream.call.write(good);
  await waitFor('answers', () => stream.responses.length >= bad.length + 1);
  bad.forEach(([s, expected], i) => {
    const r = stream.responses[i]!;
    assert.is(r.status, BookingStatus.BOOKING_FAILED, `answer ${i}`);
    assert.is(r.carId, s.carId);
    assert.match(r.message, expected);
  });
  // The stream is still open and works: the valid message after the bad ones is acknowledged.
  const last = stream.responses[bad.length]!;
  assert.is(last.status, BookingStatus.BOOKING_UNKNOWN);
  assert.is(last.carId, good.carId);
  stream.call.end();
  await stream.ended;
  c.close();

  const ids = bad.map(([s]) => s.carId).filter((id) => id !== '');
  assert.equal((await redis.geoPos('fleet:locations', ids)).filter((p) => p !== null), []);
  for (const id of ids) assert.is(await redis.exists(`car:${id}`), 0);
  const events = await readTopic(svc.topic, (seen) => seen.some((e) => e.value.car_id === good.carId));
  const mine = events.filter((e) => String(e.value.car_id).startsWith(prefix));
  assert.equal(mine.map((e) => e.value.car_id), [good.carId]);
  const metrics = await (await fetch(`${svc.http}/metrics`)).text();
  assert.match(metrics, new RegExp(`ingestion_messages_rejected_total ${bad.length}\\b`));
});

it('an oversized message is refused by the transport limit', async ({ svc }) => {
  const c = client(svc.address);
  const stream = openStream(c);
  stream.call.write(carStatus(`BIG-${'X'.repeat(svc.cfg.maxMessageBytes)}`));
  const end = await stream.ended;
  assert.is(end.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(stream.responses, []);
  c.close();
});

it('no token or a wrong one: UNAUTHENTICATED for the stream and the unary health check; nothing stored', async ({ svc, redis }) => {
  const carId = uniqueName('INTRUDER');
  for (const token of [null, 'nope']) {
    const c = client(svc.address);
    const stream = openStream(c, token);
    stream.call.write(carStatus(carId));
    const end = await stream.ended;
    assert.is(end.code, GrpcStatus.UNAUTHENTICATED);
    assert.equal(stream.responses, []);
    c.close();
  }
  assert.is(await redis.exists(`car:${carId}`), 0);

  const Health = makeGenericClientConstructor(healthService, 'Health');
  const health = new Health(svc.address, credentials.createInsecure()) as unknown as {
    check(req: { service: string }, md: Metadata, cb: (e: { code: number } | null, r?: { status: string }) => void): void;
    close(): void;
  };
  const check = (md: Metadata) =>
    new Promise<{ code: number; status?: string }>((resolve) =>
      health.check({ service: 'fleet.FleetService' }, md, (e, r) => resolve(e ? { code: e.code } : { code: 0, status: r!.status })),
    );
  assert.equal(await check(tokenMetadata(null)), { code: GrpcStatus.UNAUTHENTICATED });
  assert.equal(await check(tokenMetadata('nope')), { code: GrpcStatus.UNAUTHENTICATED });
  assert.equal(await check(tokenMetadata()), { code: 0, status: 'SERVING' });
  health.close();

  const metrics = await (await fetch(`${svc.http}/metrics`)).text();
  assert.match(metrics, /ingestion_errors_total\{kind="unauthenticated"\} [4-9]/);
});

it('operations port: health, ready, metrics and the open connections', async ({ svc }) => {
  const carId = uniqueName('OPS');
  const c = client(svc.address);
  const stream = openStream(c);
  stream.call.write(carStatus(carId));
  await waitFor('ack', () => stream.responses.length === 1);

  assert.equal(await (await fetch(`${svc.http}/health`)).json(), { status: 'ok' });
  const ready = await fetch(`${svc.http}/ready`);
  assert.is(ready.status, 200);
  assert.equal(await ready.json(), { ready: true, redis: true, kafka: true, draining: false });
  const connections = (await (await fetch(`${svc.http}/api/v1/connections`)).json()) as {
    count: number;
    connections: Array<{ car_id: string; peer: string; messages: number; connected_since: string }>;
  };
  const mine = connections.connections.find((x) => x.car_id === carId);
  assert.ok(mine !== undefined, 'the open stream is listed');
  assert.is(mine!.messages, 1);
  assert.match(mine!.peer, /127\.0\.0\.1/);
  assert.ok(!Number.isNaN(Date.parse(mine!.connected_since)));
  const metrics = await (await fetch(`${svc.http}/metrics`)).text();
  for (const name of [
    'ingestion_active_streams 1',
    'ingestion_messages_accepted_total',
    'ingestion_ack_latency_seconds_bucket',
    'ingestion_producer_batch_messages_bucket',
    'ingestion_in_flight_messages 0',
  ]) {
    assert.ok(metrics.includes(name), name);
  }
  // The storage thread reports its write times every 250 ms.
  await waitFor('storage write times', async () => {
    const text = await (await fetch(`${svc.http}/metrics`)).text();
    return ['redis', 'kafka'].every((target) => new RegExp(`^ingestion_storage_write_seconds_count\\{target="${target}"\\} [1-9]`, 'm').test(text));
  });
  assert.is((await fetch(`${svc.http}/api/v1/stations`)).status, 404, 'bookings are off in this test');
  stream.call.end();
  await stream.ended;
  c.close();
  await waitFor('stream gone', async () => (await (await fetch(`${svc.http}/metrics`)).text()).includes('ingestion_active_streams 0'));
});

it('two instances on different ports share Redis and the topic without stepping on each other', async ({ svc, redis, topics }) => {
  const second = await startService(DB, { FLEET_EVENTS_TOPIC: svc.topic });
  try {
    const prefix = uniqueName('PAIR');
    const per = 50;
    const streams = [svc, second].map((s, k) => {
      const c = client(s.address);
      const stream = openStream(c);
      for (let i = 0; i < per; i++) stream.call.write(carStatus(`${prefix}-${k}-${i}`, i));
      return { c, stream };
    });
    for (const { stream } of streams) await waitFor('acks', () => stream.responses.length >= per);
    for (const { c, stream } of streams) {
      stream.call.end();
      await stream.ended;
      c.close();
    }
    const ids = [0, 1].flatMap((k) => Array.from({ length: per }, (_, i) => `${prefix}-${k}-${i}`));
    assert.is((await redis.geoPos('fleet:locations', ids)).filter((p) => p !== null).length, 2 * per);
    const ours = (e: { value: Record<string, unknown> }) => String(e.value.car_id).startsWith(prefix);
    const events = await readTopic(svc.topic, (seen) => seen.filter(ours).length >= 2 * per);
    const mine = events.filter(ours);
    assert.is(mine.length, 2 * per);
    assert.is(new Set(mine.map((e) => e.value.car_id)).size, 2 * per);
  } finally {
    await second.ingestion.stop();
  }
  assert.ok(topics.length === 1);
});

it.run();
