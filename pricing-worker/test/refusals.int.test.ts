/**
 * A sample the database refuses fails alone (issue 13): the batch it travelled in with other cars'
 * samples is written, and the refused samples go to the dead-letter topic with the database's
 * reason, instead of the partition stopping on the batch for ever. The refusal here is a CHECK
 * constraint an operator added, which the worker knows nothing of (PostgreSQL 15, real Kafka).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createKafka, createLogger } from '@greenlane/common';
import {
  createTopic, freePort, freshDatabase, generateStays, invariantErrors, produce, rowCount, startGrid, startWorker,
  stayTotals, testServers, uniqueName, waitFor,
} from './helpers.js';

const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'pricing-refusal-test', log: createLogger('pricing-test'), quiet: true });

test('samples the database refuses go to the DLQ with its reason; every other sample of their batches is stored', async () => {
  const db = await freshDatabase();
  const port = await freePort();
  const grid = await startGrid(port);
  const topic = uniqueName('pricing-refusal');
  const dlq = `${topic}.dlq`;
  // One partition: the refused samples share batches with every other car's.
  await createTopic(kafka, topic, 1);
  const worker = await startWorker({ topic, dlq, group: uniqueName('pw'), gridUrl: `http://127.0.0.1:${port}`, databaseUrl: db.url });
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const reader = kafka.consumer({ groupId: uniqueName('dlq-reader') });
  try {
    await client.query(`ALTER TABLE charging_sessions ADD CONSTRAINT no_closed_station CHECK (station_id <> 'ST-CLOSED')`);
    const gen = generateStays({ cars: 10, samplesPerStay: 30, seed: 11 });
    const T = gen.events.length > 0 ? Number(JSON.parse(gen.events[0]!.value).timestamp) : Date.now();
    const refused = Array.from({ length: 5 }, (_, i) => ({
      key: 'CAR-CLOSED',
      value: JSON.stringify({
        event_type: 'telemetry', event_id: `closed-${i}`, car_id: 'CAR-CLOSED', lat: 40.75, lon: -73.98, battery: 50 + i, velocity: 0,
        timestamp: T + i * 1000, station_id: 'ST-CLOSED', charging: true, charge_energy_kwh: i + 1, plugged_in_at: T - 1000,
      }),
    }));
    const step = Math.floor(gen.events.length / refused.length);
    const events = gen.events.flatMap((e, i) => (i % step === 0 && i / step < refused.length ? [refused[i / step]!, e] : [e]));
    await produce(kafka, topic, events);

    await waitFor('every good sample stored', async () => (await rowCount(db.url)) === gen.chargingSamples, 60_000, 200);
    assert.equal(invariantErrors(gen.stays, await stayTotals(db.url)), []);

    const letters: Array<{ value: string; reason: string }> = [];
    await reader.connect();
    await reader.subscribe({ topic: dlq, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        letters.push({ value: message.value?.toString() ?? '', reason: message.headers?.reason?.toString() ?? '' });
      },
    });
    await waitFor('the refused samples as dead letters', () => letters.length >= refused.length, 30_000);
    assert.equal(letters.map((l) => JSON.parse(l.value).event_id).sort(), refused.map((r) => JSON.parse(r.value).event_id).sort());
    for (const l of letters) assert.match(l.reason, /the database refused it: .*no_closed_station/);
    assert.is((await client.query(`SELECT count(*)::int AS n FROM charging_sessions WHERE car_id = 'CAR-CLOSED'`)).rows[0].n, 0);

    const metrics = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    assert.match(metrics, new RegExp(`pricing_dead_letters_total ${refused.length}\\b`));
  } finally {
    await reader.disconnect();
    await client.end();
    worker.signal('SIGTERM');
    await worker.exited;
    grid.signal('SIGTERM');
    await grid.exited;
    await db.drop();
  }
});

test.run();
