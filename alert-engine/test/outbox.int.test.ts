/**
 * The queues on the real Redis (DB 13) and the database kept off the alerts' path: two senders
 * that read the same entries never drop one nobody sent; an outbox an interrupted batch left is
 * sent with its partition's next batch, before it; with the database cut off (a TCP proxy
 * in front of PostgreSQL that stops passing), alerts still reach fleet-alerts at once and the rows
 * follow when it is back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type Socket } from 'node:net';
import pg from 'pg';
import { testServers } from '@greenlane/common/testing';
import { createTopic, freePort, freshDatabase } from '@greenlane/common/testing-programs';
import { AlertStore } from '../src/store.js';
import { telemetry } from './helpers.js';
import { dropPrefix, kafka, metric, readAlerts, redisDb13, send, startEngine, uniqueName, waitFor, type Engine } from './servers.js';

test('two senders of one queue: each entry confirmed once, none dropped unsent', async () => {
  const redis = await redisDb13();
  const prefix = `${uniqueName('alert-queue')}:`;
  try {
    const store = new AlertStore(redis as never, prefix, 60, 60);
    const key = store.keys.apiOutbox;
    const entry = (i: number) => JSON.stringify({ event_id: `e${i}`, car_id: 'Q', event_type: 'alert_raised' });
    await redis.rPush(key, [0, 1, 2].map(entry));
    const a = await store.read(key, 10);
    const b = await store.read(key, 10);
    await redis.rPush(key, [3, 4].map(entry));
    await store.confirm(a);
    await store.confirm(b);
    assert.equal(await redis.lRange(key, 0, -1), [3, 4].map(entry), 'the second confirm dropped nothing: its entries were gone already');
    const c = await store.read(key, 1);
    await store.confirm(c);
    assert.equal(await redis.lRange(key, 0, -1), [entry(4)]);
  } finally {
    await redis.quit();
    await dropPrefix(prefix);
  }
});

/** A TCP proxy to PostgreSQL that can stop passing (connections cut, new ones refused) and resume. */
async function proxy(target: URL): Promise<{ port: number; cut(): void; resume(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let passing = true;
  const server = createServer((client) => {
    if (!passing) return client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    cut() {
      passing = false;
      for (const s of sockets) s.destroy();
    },
    resume() {
      passing = true;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

test('an outbox left by an interrupted batch is sent when its partition next has a batch', async () => {
  const topic = uniqueName('alert-leftover');
  const prefix = `${uniqueName('alert-leftover')}:`;
  const db = await freshDatabase('alerts_leftover');
  let engine: Engine | undefined;
  let reader: Awaited<ReturnType<typeof readAlerts>> | undefined;
  const redis = await redisDb13();
  try {
    await createTopic(kafka, topic, 1);
    // What a crash after the state script and before the send leaves: the event in the outbox (and the row queue).
    const left = { event_type: 'alert_raised', event_id: 'LEFT-1.overspeed.1:raised', alert_id: 'LEFT-1.overspeed.1', car_id: 'LEFT-1', rule: 'overspeed', severity: 'warning', at: 1, raised_at: 1, values: { velocity: 130 } };
    await redis.rPush(`${prefix}outbox:${topic}:0`, JSON.stringify(left));
    await redis.rPush(`${prefix}outbox:db`, JSON.stringify(left));
    engine = await startEngine({ FLEET_EVENTS_TOPIC: topic, FLEET_ALERTS_TOPIC: `${topic}-alerts`, ALERT_GROUP_ID: uniqueName('alert-leftover'), ALERT_REDIS_PREFIX: prefix, DATABASE_URL: db.url });
    reader = await readAlerts(`${topic}-alerts`);
    await send(topic, [telemetry('LEFT-2', 0, { battery: 10 })]);
    await waitFor('both alert events on fleet-alerts', () => reader!.events.length === 2, 20_000);
    assert.equal(reader.events.map((e) => e.event_id), ['LEFT-1.overspeed.1:raised', `LEFT-2.battery_low.${reader.events[1]!.at}:raised`], 'the left-over event first');
    assert.is(await metric(engine.port, 'alert_outbox_resent_total'), 1);
    assert.equal(await redis.lRange(`${prefix}outbox:${topic}:0`, 0, -1), []);
    await waitFor('both rows', async () => (await metric(engine!.port, 'alert_rows_inserted_total')) === 2, 20_000);
  } finally {
    engine?.signal('SIGKILL');
    await engine?.exited;
    await reader?.stop();
    await redis.quit();
    await dropPrefix(prefix);
    await db.drop();
  }
});

test('the database cut off: alerts still reach fleet-alerts; the rows follow when it is back', async () => {
  const db = await freshDatabase('alerts_cut');
  const url = new URL(db.url);
  const gate = await proxy(new URL(testServers.postgresUrl));
  const viaProxy = new URL(db.url);
  viaProxy.host = `127.0.0.1:${gate.port}`;
  const topic = uniqueName('alert-dbcut');
  const prefix = `${uniqueName('alert-dbcut')}:`;
  let engine: Engine | undefined;
  let reader: Awaited<ReturnType<typeof readAlerts>> | undefined;
  const rows = async () => {
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM fleet_alerts')).rows[0]!.n);
    } finally {
      await client.end();
    }
  };
  try {
    await createTopic(kafka, topic, 2);
    engine = await startEngine({ FLEET_EVENTS_TOPIC: topic, FLEET_ALERTS_TOPIC: `${topic}-alerts`, ALERT_GROUP_ID: uniqueName('alert-dbcut'), ALERT_REDIS_PREFIX: prefix, DATABASE_URL: viaProxy.toString() });
    reader = await readAlerts(`${topic}-alerts`);
    const events = reader.events;
    await send(topic, [telemetry('CUT-1', 0, { battery: 10 })]);
    await waitFor('the first alert in fleet_alerts', async () => (await rows()) === 1, 20_000);

    gate.cut();
    await send(topic, [telemetry('CUT-2', 0, { battery: 10 }), telemetry('CUT-3', 0, { battery: 18 }), telemetry('CUT-1', 5, { battery: 60 })]);
    await waitFor('the alerts on fleet-alerts while the database is away', () => events.length === 4, 20_000);
    assert.equal(events.map((e) => `${e.car_id}:${e.event_type}`).sort(), ['CUT-1:alert_cleared', 'CUT-1:alert_raised', 'CUT-2:alert_raised', 'CUT-3:alert_raised']);
    await waitFor('a failed write of fleet_alerts', async () => (await metric(engine!.port, 'alert_db_write_failures_total')) > 0, 20_000);
    assert.is(await metric(engine.port, 'alert_db_backlog'), 3, 'three rows wait in Redis');
    assert.is(await rows(), 1);

    gate.resume();
    await waitFor('the rows written once the database is back', async () => (await rows()) === 4, 30_000);
    assert.is(await metric(engine.port, 'alert_db_backlog'), 0);
    assert.is(await metric(engine.port, 'alert_rows_inserted_total'), 4);
  } finally {
    engine?.signal('SIGKILL');
    await engine?.exited;
    await reader?.stop();
    await gate.close();
    await dropPrefix(prefix);
    await db.drop();
  }
});

test.run();
