/**
 * Presence and connectivity events on the real Redis and Kafka, two instances sharing one topic:
 * online when first heard; no flap when a car moves to the other instance within the grace; offline
 * after the grace when it does not come back, after the timeout when it goes silent, and with
 * reason instance_lost when its instance dies without a word (kill -9). Each change once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectRedis, createKafka, type RedisClient } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { carStatus, client, log, openStream, redisUrl, serviceEnv, sleep, spawnService, startService, type TestService } from './helpers.js';

const DB = 1;
const topic = uniqueName('presence-test');
const PRESENCE = { PRESENCE_TIMEOUT_MS: '1500', PRESENCE_GRACE_MS: '600', PRESENCE_FLUSH_MS: '100', FLEET_EVENTS_TOPIC: topic };
let a: TestService;
let b: TestService;
let redis: RedisClient;
const events: Array<Record<string, unknown>> = [];
const consumer = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'presence-test', log, quiet: true }).consumer({ groupId: uniqueName('presence-test') });

const of = (car: string, type?: string) => events.filter((e) => e.car_id === car && (type === undefined || e.event_type === type));
const presenceOf = (car: string) => redis.hGetAll(`presence:${car}`);

test.before(async () => {
  redis = await connectRedis(redisUrl(DB), log);
  await redis.flushDb();
  a = await startService(DB, { ...PRESENCE, INGESTION_INSTANCE_ID: 'pres-a' });
  b = await startService(DB, { ...PRESENCE, INGESTION_INSTANCE_ID: 'pres-b' });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void events.push(JSON.parse(message.value!.toString()) as Record<string, unknown>) });
});

test.after(async () => {
  await consumer.disconnect();
  await a.ingestion.stop();
  await b.ingestion.stop();
  await redis.quit();
});

test('a car heard for the first time is online, once, with its connection', async () => {
  const car = uniqueName('PRES-NEW');
  const s = openStream(client(a.address));
  for (let i = 0; i < 5; i++) s.call.write(carStatus(car, i));
  await waitFor('online', () => of(car, 'car_online').length === 1 && of(car, 'car_connected').length === 1);
  const p = await presenceOf(car);
  assert.is(p.state, 'online');
  assert.is(p.instance, 'pres-a');
  assert.is(of(car, 'car_online')[0]!.reason, 'first_seen');
  assert.is(of(car, 'car_connected')[0]!.instance, 'pres-a');
  s.call.end();
  await waitFor('offline after the grace', () => of(car, 'car_offline').length === 1, 10_000);
  assert.is(of(car, 'car_offline')[0]!.reason, 'stream_closed');
  assert.is(of(car, 'car_disconnected')[0]!.reason, 'car_closed');
  await sleep(1000);
  assert.is(of(car, 'car_offline').length, 1);
  assert.is(of(car, 'car_online').length, 1);
});

test('a car that moves to the other instance within the grace never flaps', async () => {
  const car = uniqueName('PRES-MOVE');
  const first = openStream(client(a.address));
  first.call.write(carStatus(car, 0));
  await waitFor('online', () => of(car, 'car_online').length === 1);
  const second = openStream(client(b.address));
  second.call.write(carStatus(car, 1));
  await waitFor('heard on b', async () => (await presenceOf(car)).instance === 'pres-b');
  first.call.end();
  // Well past the grace and beyond one timeout, still streaming through b.
  for (let i = 2; i < 12; i++) {
    second.call.write(carStatus(car, i));
    await sleep(250);
  }
  assert.is(of(car, 'car_offline').length, 0);
  assert.is(of(car, 'car_online').length, 1);
  assert.is((await presenceOf(car)).state, 'online');
  assert.ok(of(car, 'car_disconnected').some((e) => e.instance === 'pres-a'));
  second.call.end();
});

test('a car that goes silent is offline after the timeout, and online again when heard', async () => {
  const car = uniqueName('PRES-QUIET');
  const s = openStream(client(b.address));
  s.call.write(carStatus(car, 0));
  await waitFor('online', () => of(car, 'car_online').length === 1);
  await waitFor('offline by timeout', () => of(car, 'car_offline').length === 1, 10_000);
  assert.is(of(car, 'car_offline')[0]!.reason, 'timeout');
  s.call.write(carStatus(car, 1));
  await waitFor('online again', () => of(car, 'car_online').length === 2);
  assert.is(of(car, 'car_online')[1]!.reason, 'reconnected');
  s.call.end();
});

test('the cars of an instance killed without a word go offline as instance_lost', async () => {
  // The car's deadline comes from the instance that heard it: 5 s here, so the kill lands before it
  // however slowly the online event comes round (else the doomed instance, still alive, would
  // sweep its own car as a timeout).
  const env = await serviceEnv(DB, { ...PRESENCE, PRESENCE_TIMEOUT_MS: '5000', INGESTION_INSTANCE_ID: 'pres-doomed' });
  const doomed = spawnService(env);
  await waitFor('doomed instance ready', async () => (await fetch(`http://${env.INGESTION_HTTP_ADDR}/ready`)).ok, 30_000);
  const car = uniqueName('PRES-LOST');
  const s = openStream(client(env.INGESTION_ADDR!));
  s.call.write(carStatus(car, 0));
  await waitFor('online', () => of(car, 'car_online').length === 1);
  doomed.child.kill('SIGKILL');
  // Noticed by a live instance (only a, b are left to sweep); its disconnection was never told.
  await waitFor('offline', () => of(car, 'car_offline').length === 1, 15_000);
  const offline = of(car, 'car_offline')[0]!;
  assert.is(offline.reason, 'instance_lost');
  assert.is(offline.held_by, 'pres-doomed');
  assert.ok(offline.instance === 'pres-a' || offline.instance === 'pres-b');
  assert.is(of(car, 'car_disconnected').length, 0);
});

test.run();
