/**
 * Proves the local infrastructure is real: kafkajs against the Kafka broker with a consumer group,
 * GEO commands on Redis, and the schema plus the analyst queries on PostgreSQL 15 and on the
 * embedded TimescaleDB (hypertable and continuous aggregate included).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { createKafka, ensureTopics } from '../src/kafka.js';
import { connectRedis } from '../src/redis.js';
import { migrate } from '../src/db/schema.js';
import { isolatedSchema, testServers, uniqueName, waitFor } from '../src/testing.js';

const log = pino({ level: 'silent' });
const root = new URL('../../../', import.meta.url).pathname;

const kafka = suite('kafka');

kafka('a consumer group reads back what a producer wrote, in order per key', async () => {
  const client = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'infra-test', log });
  const topic = uniqueName('infra-test');
  assert.equal(await ensureTopics(client, [{ topic, numPartitions: 3 }]), [topic]);
  assert.equal(await ensureTopics(client, [{ topic, numPartitions: 3 }]), [], 'second call creates nothing');

  const producer = client.producer({ idempotent: true });
  await producer.connect();
  const sent = Array.from({ length: 30 }, (_, i) => ({ key: `CAR-${i % 3}`, value: JSON.stringify({ seq: i }) }));
  await producer.send({ topic, acks: -1, messages: sent });
  await producer.disconnect();

  const consumer = client.consumer({ groupId: uniqueName('infra-group') });
  const received: Array<{ key: string; seq: number }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      received.push({ key: message.key!.toString(), seq: JSON.parse(message.value!.toString()).seq });
    },
  });
  await waitFor('30 messages', () => received.length >= 30, 30_000);
  await consumer.disconnect();

  assert.is(received.length, 30);
  for (const key of ['CAR-0', 'CAR-1', 'CAR-2']) {
    const seqs = received.filter((r) => r.key === key).map((r) => r.seq);
    assert.equal(seqs, [...seqs].sort((a, b) => a - b), `${key} stays in order`);
    assert.is(seqs.length, 10);
  }
  const admin = client.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] });
  await admin.disconnect();
});

kafka.run();

const redis = suite('redis');

redis('GEOADD and GEOSEARCH answer by distance', async () => {
  const client = await connectRedis(testServers.redisUrl, log);
  const key = uniqueName('test:locations');
  try {
    await client.geoAdd(key, [
      { longitude: -73.9857, latitude: 40.7484, member: 'empire-state' },
      { longitude: -73.9772, latitude: 40.7527, member: 'grand-central' },
      { longitude: -74.0445, latitude: 40.6892, member: 'liberty' },
    ]);
    const near = await client.geoSearchWith(key, { longitude: -73.9857, latitude: 40.7484 }, { radius: 2, unit: 'km' }, ['WITHDIST'], { SORT: 'ASC' });
    assert.equal(near.map((r) => r.member), ['empire-state', 'grand-central']);
    assert.ok(Number(near[1]!.distance) > 0.8 && Number(near[1]!.distance) < 1.0, `Grand Central is ~0.86 km away, got ${near[1]!.distance}`);
  } finally {
    await client.del(key);
    await client.quit();
  }
});

redis.run();

// The charging_sessions queries; the history-*.sql ones (psql variables, car_telemetry) have their own test.
const analystQueries = readdirSync(join(root, 'common/sql/analyst')).filter((name) => !name.startsWith('history-')).map((name) => ({
  name,
  sql: readFileSync(join(root, 'common/sql/analyst', name), 'utf8').replace(':car', "'CAR-001'"),
}));

for (const [name, url, expectTimescale] of [
  ['postgresql 15', testServers.postgresUrl, false],
  ['embedded timescaledb', testServers.timescaleUrl, true],
] as const) {
  const db = suite(name);

  db('schema migrates idempotently and the analyst queries run', async () => {
    const { client, schema, drop } = await isolatedSchema(url);
    try {
      const first = await migrate(client, log);
      const second = await migrate(client, log);
      assert.is(first.timescale, expectTimescale);
      assert.is(second.timescale, expectTimescale);

      const columns = await client.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'charging_sessions' ORDER BY ordinal_position",
        [schema],
      );
      assert.equal(columns.rows.slice(0, 6), [
        { column_name: 'time', data_type: 'timestamp with time zone' },
        { column_name: 'session_id', data_type: 'text' },
        { column_name: 'station_id', data_type: 'text' },
        { column_name: 'car_id', data_type: 'text' },
        { column_name: 'kwh_usage', data_type: 'double precision' },
        { column_name: 'price_rate', data_type: 'double precision' },
      ]);
      const indexes = await client.query('SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2', [schema, 'charging_sessions']);
      const defs = indexes.rows.map((r) => r.indexdef as string).join('\n');
      assert.match(defs, /\(station_id, "time" DESC\)/);
      assert.match(defs, /\(car_id, "time" DESC\)/);
      assert.match(defs, /UNIQUE INDEX .* \(session_id, "time"\)/);

      const now = Date.now();
      await client.query(
        `INSERT INTO charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate)
         SELECT to_timestamp(($1::bigint - g * 60000) / 1000.0), 's-' || (g % 3), 'ST-' || (g % 2), 'CAR-00' || (g % 3), 0.5, 0.25 + g * 0.001
         FROM generate_series(0, 99) g`,
        [now],
      );
      const duplicate = await client.query(
        `INSERT INTO charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate)
         VALUES (to_timestamp($1 / 1000.0), 's-0', 'ST-0', 'CAR-000', 0.5, 0.25) ON CONFLICT DO NOTHING`,
        [now],
      );
      assert.is(duplicate.rowCount, 0, 'a replayed (session, time) inserts nothing');

      for (const query of analystQueries) {
        const result = await client.query(query.sql);
        assert.ok(result.rows.length > 0, `${query.name} returns rows`);
      }
      const perStation = await client.query(analystQueries.find((q) => q.name === 'stations-last-day.sql')!.sql);
      assert.equal(perStation.rows.map((r) => Number(r.sum)).reduce((a, b) => a + b, 0), 50);

      if (expectTimescale) {
        const hyper = await client.query('SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = $1', [schema]);
        assert.equal(hyper.rows, [{ hypertable_name: 'charging_sessions' }]);
        const hourly = await client.query('SELECT sum(kwh) AS kwh, sum(samples) AS samples FROM charging_sessions_hourly');
        assert.is(Number(hourly.rows[0].kwh), 50, 'the continuous aggregate sees every row');
        assert.is(Number(hourly.rows[0].samples), 100);
      }
    } finally {
      await drop();
    }
  });

  db.run();
}
