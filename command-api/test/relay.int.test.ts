/**
 * The outbox relay on the real Redis and Kafka of `make up`: several relays (one per API instance)
 * share commands:log, one at a time relays it, and every car's changes reach the topic in the
 * order of the log, across a hand-over and a leader that died with entries read.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { COMMAND_KEYS, connectRedis, createKafka, createLogger, ensureTopics, type RedisClient } from '@greenlane/common';
import { completeProducer } from '@greenlane/common/kafka-send';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { CommandRelay, RELAY_GROUP, RELAY_LEASE_KEY } from '../src/relay.js';

/** The Redis database of the command API's tests. */
const redisUrl = (() => {
  const url = new URL(testServers.redisUrl);
  url.pathname = '/11';
  return url.toString();
})();
// Long enough that a Kafka send slowed by a busy machine does not outlast the lease (a leader
// paused past its lease may relay beside the next one, by design: see relay.ts).
const LEASE_MS = 3_000;
const log = createLogger('relay-test', { LOG_LEVEL: 'warn' });
const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'relay-test', log });
const producer = completeProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
const topic = uniqueName('relay-test-commands');
const cars = ['A', 'B', 'C'].map((c) => uniqueName(`RELAY-${c}`));
let redis: RedisClient;
let reader: Consumer;
/** What reached the topic for this file's cars: car → log ids, in topic order. */
const onTopic = new Map<string, string[]>();
const relays: CommandRelay[] = [];

function relay(name: string): CommandRelay {
  const r = new CommandRelay(redis, producer, topic, name, { relayed: () => undefined, failed: () => undefined }, log.child({ relay: name }), { leaseMs: LEASE_MS });
  relays.push(r);
  return r;
}

/** Appends `n` status changes per car to the log, interleaved; their ids in log order. */
async function append(n: number): Promise<Map<string, string[]>> {
  const ids = new Map(cars.map((car) => [car, [] as string[]]));
  for (let i = 0; i < n; i++) {
    for (const car of cars) {
      const id = await redis.xAdd(COMMAND_KEYS.log, '*', {
        command_id: `${car}-cmd`, car_id: car, command: 'EMERGENCY_STOP', status: i === 0 ? 'QUEUED' : 'SENT',
        at: String(Date.now()), issued_at: String(Date.now()), instance: 'ing-a', reason: '', deliveries: String(i),
      });
      ids.get(car)!.push(id);
    }
  }
  return ids;
}

const relayedSoFar = (car: string) => onTopic.get(car) ?? [];

async function everyEntryOnTopic(expected: Map<string, string[]>): Promise<void> {
  await waitFor('every entry on the topic', () => cars.every((car) => expected.get(car)!.every((id) => relayedSoFar(car).includes(id))), 30_000);
}

/** Each car's ids on the topic, repeats dropped (as consumers do, by event_id), in topic order. */
function deduplicated(car: string): string[] {
  return [...new Set(relayedSoFar(car))];
}

test.before(async () => {
  redis = await connectRedis(redisUrl, log);
  await ensureTopics(kafka, [{ topic, numPartitions: 3 }]);
  await producer.connect();
  reader = new Kafka({ brokers: testServers.kafkaBrokers, logLevel: logLevel.NOTHING }).consumer({ groupId: uniqueName('relay-test-reader') });
  await reader.connect();
  await reader.subscribe({ topic, fromBeginning: true });
  await reader.run({
    eachMessage: async ({ message }) => {
      const event = JSON.parse(message.value!.toString());
      if (!cars.includes(event.car_id)) return;
      assert.is(message.key!.toString(), event.car_id);
      const list = onTopic.get(event.car_id) ?? [];
      list.push(String(event.event_id).slice(`${event.command_id}:`.length));
      onTopic.set(event.car_id, list);
    },
  });
});

test.after(async () => {
  for (const r of relays) await r.stop();
  await reader.disconnect();
  await producer.disconnect();
  await redis.quit();
});

test('three relays on one log: one leads, and each car\'s changes reach the topic in log order', async () => {
  const all = [relay('api-1'), relay('api-2'), relay('api-3')];
  await Promise.all(all.map((r) => r.start()));
  await waitFor('a leader', () => all.some((r) => r.leader), 15_000);
  const expected = await append(60);
  await everyEntryOnTopic(expected);
  assert.is(all.filter((r) => r.leader).length, 1, 'exactly one relay leads');
  for (const car of cars) assert.equal(deduplicated(car), expected.get(car));
});

test('a stopped leader hands over: the next relay goes on from where it stopped, in order', async () => {
  const leader = relays.find((r) => r.leader)!;
  const before = await append(20);
  await leader.stop();
  relays.splice(relays.indexOf(leader), 1);
  const after = await append(20);
  await waitFor('a new leader', () => relays.some((r) => r.leader), 5_000);
  await everyEntryOnTopic(after);
  for (const car of cars) {
    const sent = deduplicated(car);
    const mine = [...before.get(car)!, ...after.get(car)!];
    assert.equal(sent.filter((id) => mine.includes(id)), mine, `${car}'s changes in log order`);
  }
});

test('a leader that died with entries read: its lease runs out, and the next relays those entries first, then the newer ones', async () => {
  for (const r of relays.splice(0)) await r.stop();
  // What a leader leaves behind when its process is killed mid-batch: entries read as the relay
  // consumer and never acknowledged, and its lease, still running.
  await redis.set(RELAY_LEASE_KEY, 'killed-instance', { PX: LEASE_MS });
  const stranded = await append(10);
  await redis.xReadGroup(RELAY_GROUP, 'relay', { key: COMMAND_KEYS.log, id: '>' }, { COUNT: 10_000 });
  const newer = await append(10);
  const next = relay('api-4');
  await next.start();
  await everyEntryOnTopic(newer);
  for (const car of cars) {
    const mine = [...stranded.get(car)!, ...newer.get(car)!];
    assert.equal(deduplicated(car).filter((id) => mine.includes(id)), mine, `${car}'s changes in log order`);
  }
  const pending = await redis.xPending(COMMAND_KEYS.log, RELAY_GROUP);
  assert.is(pending.pending, 0, 'every entry acknowledged');
});

test('entries a former leader read after the hand-over (it was paused past its lease) are relayed at the next renewal', async () => {
  assert.ok(relays.some((r) => r.leader));
  // The paused leader wakes and reads as the relay consumer, then finds its lease gone and stops.
  // One transaction, so it reads the entries before the leader's blocked read is served.
  const at = String(Date.now());
  const transaction = redis.multi();
  for (const car of cars) {
    transaction.xAdd(COMMAND_KEYS.log, '*', { command_id: `${car}-late`, car_id: car, command: 'RESUME', status: 'QUEUED', at, issued_at: at, instance: '', reason: '', deliveries: '0' });
  }
  transaction.xReadGroup(RELAY_GROUP, 'relay', { key: COMMAND_KEYS.log, id: '>' }, { COUNT: 10_000 });
  const replies = (await transaction.exec()) as unknown[];
  const ids = replies.slice(0, cars.length) as string[];
  const stranded = new Map(cars.map((car, i) => [car, [ids[i]!]]));
  await everyEntryOnTopic(stranded);
  await waitFor('every entry acknowledged', async () => (await redis.xPending(COMMAND_KEYS.log, RELAY_GROUP)).pending === 0, 10_000);
});

test('pending entries the log no longer holds (trimmed by its MAXLEN) are taken off the pending list', async () => {
  const at = String(Date.now());
  const transaction = redis.multi();
  transaction.xAdd(COMMAND_KEYS.log, '*', { command_id: 'trimmed', car_id: cars[0]!, command: 'RESUME', status: 'QUEUED', at, issued_at: at, instance: '', reason: '', deliveries: '0' });
  transaction.xReadGroup(RELAY_GROUP, 'relay', { key: COMMAND_KEYS.log, id: '>' }, { COUNT: 10_000 });
  const [id] = (await transaction.exec()) as unknown as [string];
  await redis.xDel(COMMAND_KEYS.log, id);
  assert.is((await redis.xPending(COMMAND_KEYS.log, RELAY_GROUP)).pending, 1);
  await waitFor('the trimmed entry off the pending list', async () => (await redis.xPending(COMMAND_KEYS.log, RELAY_GROUP)).pending === 0, 10_000);
});

test.run();
