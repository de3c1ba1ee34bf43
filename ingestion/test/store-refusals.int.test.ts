/**
 * One car's message that a store refuses fails that message only (issue 13): the other cars whose
 * messages travelled in the same storage batch are acknowledged and stored, and their streams stay
 * open. And the live index keeps each car's newest state by the car's own timestamp, whatever the
 * order messages arrive in; a late message is still acknowledged and still an event, marked late.
 * Real Redis (database 4) and Kafka (a topic per test).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { status as GrpcStatus } from '@grpc/grpc-js';
import kafkajs from 'kafkajs';
import { connectRedis, createKafka, type RedisClient } from '@greenlane/common';
import { uniqueName, waitFor, testServers } from '@greenlane/common/testing';
import { BookingStatus, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import {
  carStatus,
  client,
  deleteTopic,
  log,
  openStream,
  readTopic,
  redisUrl,
  sleep,
  startService,
  type RecordedStream,
  type TestService,
} from './helpers.js';

const DB = 4;
const it = suite<{ svc: TestService; redis: RedisClient; topics: string[] }>('store refusals and the newest state');

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

/** Each car on a stream of its own, `messages` each, `gapMs` apart, all cars at once. */
async function driveCars(address: string, cars: Array<(i: number) => CarStatus>, messages: number, gapMs: number): Promise<RecordedStream[]> {
  const c = client(address);
  const streams = cars.map(() => openStream(c));
  for (let i = 0; i < messages; i++) {
    cars.forEach((car, k) => streams[k]!.call.write(car(i)));
    await sleep(gapMs);
  }
  await waitFor('an answer to every message', () => streams.every((s) => s.responses.length >= messages), 60_000);
  for (const s of streams) s.call.end();
  await Promise.all(streams.map((s) => s.ended));
  c.close();
  return streams;
}

/** Every answer of these streams is a plain acknowledgement and every stream ended OK. */
async function assertAllAcknowledged(streams: RecordedStream[], messages: number): Promise<void> {
  for (const s of streams) {
    assert.is(s.responses.length, messages);
    assert.equal(s.responses.filter((r) => r.status !== BookingStatus.BOOKING_UNKNOWN).map((r) => r.message), []);
    assert.is((await s.ended).code, GrpcStatus.OK);
  }
}

it('a polar car beside 20 ordinary cars: it is answered with Redis geo bound; all 1,000 ordinary messages acknowledged and stored', async ({ svc, redis }) => {
  const prefix = uniqueName('POLAR');
  const ordinary = Array.from({ length: 20 }, (_, k) => (i: number) => carStatus(`${prefix}-${k}`, i, { latitude: 40.75, longitude: -73.98 }));
  const polar = (i: number) => carStatus(`${prefix}-north`, i, { latitude: 86, longitude: -73.98 });
  const streams = await driveCars(svc.address, [...ordinary, polar], 50, 20);

  await assertAllAcknowledged(streams.slice(0, 20), 50);
  const polarAnswers = streams[20]!.responses;
  assert.is(polarAnswers.length, 50);
  for (const r of polarAnswers) {
    assert.is(r.status, BookingStatus.BOOKING_FAILED);
    assert.match(r.message, /invalid latitude=86: .*85\.05112878/);
  }
  assert.is((await streams[20]!.ended).code, GrpcStatus.OK);

  const ids = ordinary.map((_, k) => `${prefix}-${k}`);
  assert.is((await redis.geoPos('fleet:locations', ids)).filter((p) => p !== null).length, 20);
  assert.is(await redis.exists(`car:${prefix}-north`), 0);
  const ours = (e: { key: string }) => e.key.startsWith(prefix);
  const events = (await readTopic(svc.topic, (seen) => seen.filter(ours).length >= 1000)).filter(ours);
  assert.is(events.length, 1000);
  assert.ok(events.every((e) => e.key !== `${prefix}-north`));
});

it('a car whose hash Redis refuses (WRONGTYPE) fails alone: its messages are answered BOOKING_FAILED and not emitted; the others are stored', async ({ svc, redis }) => {
  const prefix = uniqueName('WRONG');
  const broken = `${prefix}-broken`;
  // Something other than GreenLane wrote a plain string where the car's hash belongs.
  await redis.set(`car:${broken}`, 'not a hash');
  const ordinary = Array.from({ length: 20 }, (_, k) => (i: number) => carStatus(`${prefix}-${k}`, i));
  const refused = (i: number) => carStatus(broken, i);
  const streams = await driveCars(svc.address, [...ordinary, refused], 20, 10);

  await assertAllAcknowledged(streams.slice(0, 20), 20);
  for (const r of streams[20]!.responses) {
    assert.is(r.status, BookingStatus.BOOKING_FAILED);
    assert.match(r.message, /not stored: the live index \(Redis\) refused it: WRONGTYPE/);
  }
  assert.is((await streams[20]!.ended).code, GrpcStatus.OK);
  assert.is(await redis.get(`car:${broken}`), 'not a hash');
  const ours = (e: { key: string }) => e.key.startsWith(prefix);
  const events = (await readTopic(svc.topic, (seen) => seen.filter(ours).length >= 400)).filter(ours);
  assert.is(events.length, 400);
  assert.ok(events.every((e) => e.key !== broken));
  const metrics = await (await fetch(`${svc.http}/metrics`)).text();
  assert.match(metrics, /ingestion_messages_refused_total\{store="redis"\} 20\b/);
});

/** A topic of its own (3 partitions: the cluster default). */
async function newTopic(): Promise<string> {
  const topic = uniqueName('ingestion-refusal');
  const admin = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'refusal-test', log, quiet: true }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

async function limitTopic(topic: string, bytes: number): Promise<void> {
  const admin = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'refusal-test', log, quiet: true }).admin();
  await admin.connect();
  await admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }] });
  // The controller has the change when alterConfigs returns; the broker applies it a moment later.
  await waitFor(`max.message.bytes=${bytes} on ${topic}`, async () => {
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
    return described.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue === String(bytes);
  }, 15_000, 50);
  await admin.disconnect();
}

/**
 * Ten ordinary cars and one whose events (the longest ids the contract allows) exceed the topic's
 * limit, through a service on `topic`: the ten are acknowledged and on the topic, the one is refused.
 */
async function oneCarTooLarge(topic: string, before: () => Promise<void>): Promise<void> {
  const svc = await startService(DB, { FLEET_EVENTS_TOPIC: topic });
  try {
    await before();
    const prefix = uniqueName('K');
    const huge = `${prefix}-`.padEnd(64, 'H');
    const ordinary = Array.from({ length: 10 }, (_, k) => (i: number) => carStatus(`${prefix}-${k}`, i));
    const refused = (i: number) =>
      carStatus(huge, i, { stationId: 'S'.repeat(64), charging: true, chargeEnergyKwh: 12.345678901234, pluggedInAt: Date.now() - 60_000 });
    const streams = await driveCars(svc.address, [...ordinary, refused], 10, 10);

    await assertAllAcknowledged(streams.slice(0, 10), 10);
    for (const r of streams[10]!.responses) {
      assert.is(r.status, BookingStatus.BOOKING_FAILED);
      assert.match(r.message, /not stored: the event topic \(Kafka\) refused it: MESSAGE_TOO_LARGE/);
    }
    const events = (await readTopic(topic, 100)).filter((e) => String(e.key).startsWith(prefix));
    assert.ok(events.every((e) => e.key !== huge));
    // A request split after a refusal may resend what Kafka had already written: same event ids.
    assert.is(new Set(events.map((e) => e.value.event_id)).size, 100);
    const metrics = await (await fetch(`${svc.http}/metrics`)).text();
    assert.match(metrics, /ingestion_messages_refused_total\{store="kafka"\} 10\b/);
  } finally {
    await svc.ingestion.stop();
    await deleteTopic(topic);
  }
}

it('an event larger than the topic takes is answered refused; the other cars of its batches are acknowledged and on the topic', async () => {
  const topic = await newTopic();
  await limitTopic(topic, 480);
  await oneCarTooLarge(topic, async () => undefined);
});

it('the topic limit lowered while running: the broker refuses, the request is split, only the oversized event fails', async () => {
  const topic = await newTopic();
  // The service reads 1 MB at start; the broker refuses its first requests after this.
  await oneCarTooLarge(topic, () => limitTopic(topic, 480));
});

it('messages out of order: the live index ends at the newest by the car clock; the older one is acknowledged, emitted and marked late', async ({ svc, redis }) => {
  const car = uniqueName('OOO');
  const now = Date.now();
  const newest = carStatus(car, 0, { latitude: 40.78, longitude: -73.96, batteryLevel: 50, timestamp: now });
  const older = carStatus(car, 0, { latitude: 40.71, longitude: -74.0, batteryLevel: 90, timestamp: now - 600_000 });
  const c = client(svc.address);
  const stream = openStream(c);
  // Apart (two storage batches), then together in one batch: a newer one, its resend, an older one.
  stream.call.write(newest);
  await waitFor('first ack', () => stream.responses.length >= 1);
  stream.call.write(older);
  await waitFor('second ack', () => stream.responses.length >= 2);
  const newer = { ...newest, timestamp: now + 1000, batteryLevel: 49 };
  const between = { ...older, timestamp: now + 500 };
  stream.call.write(newer);
  stream.call.write(newer);
  stream.call.write(between);
  await waitFor('all acks', () => stream.responses.length >= 5);
  stream.call.end();
  assert.is((await stream.ended).code, GrpcStatus.OK);
  c.close();
  assert.ok(stream.responses.every((r) => r.status === BookingStatus.BOOKING_UNKNOWN));

  const hash = await redis.hGetAll(`car:${car}`);
  assert.is(Number(hash.timestamp), newer.timestamp);
  assert.is(Number(hash.battery), 49);
  assert.is(Number(hash.latitude), 40.78);
  const [position] = await redis.geoPos('fleet:locations', [car]);
  assert.ok(Math.abs(Number(position!.latitude) - 40.78) < 1e-5, `position ${JSON.stringify(position)}`);

  const events = (await readTopic(svc.topic, (seen) => seen.filter((e) => e.key === car).length >= 5)).filter((e) => e.key === car);
  assert.equal(
    events.map((e) => [e.value.timestamp, e.value.late ?? false]),
    [
      [newest.timestamp, false],
      [older.timestamp, true],
      [newer.timestamp, false],
      [newer.timestamp, false],
      [between.timestamp, true],
    ],
  );
  // A resend keeps its event id (consumers drop the duplicate).
  assert.is(events[2]!.value.event_id, events[3]!.value.event_id);
});

it.run();
