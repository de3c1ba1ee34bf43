/**
 * Poison messages go to the dead-letter topic once each, with their reason, without blocking the
 * valid events around them on the same partition.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKafka, createLogger } from '@greenlane/common';
import {
  createTopic, freePort, freshDatabase, generateStays, invariantErrors, produce, rowCount, startGrid, startWorker,
  stayTotals, testServers, uniqueName, waitFor,
} from './helpers.js';

const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'pricing-dlq-test', log: createLogger('pricing-test'), quiet: true });

const T = Date.UTC(2026, 0, 15, 12);
const charging = (extra: Record<string, unknown>) =>
  JSON.stringify({ event_type: 'telemetry', event_id: 'p', car_id: 'CAR-0000', lat: 40.75, lon: -73.98, battery: 50, velocity: 0, timestamp: T, station_id: 'ST-0', charging: true, charge_energy_kwh: 1, plugged_in_at: T - 1000, ...extra });

const POISON: Array<{ value: string | null; reason: RegExp }> = [
  { value: 'this is not json', reason: /not JSON/ },
  { value: '[1,2,3]', reason: /not a JSON object/ },
  { value: '{"car_id":"CAR-0000","timestamp":1}', reason: /event_type/ },
  { value: null, reason: /no value/ },
  { value: charging({ charge_energy_kwh: -5 }), reason: /charge_energy_kwh/ },
  { value: charging({ charge_energy_kwh: 'lots' }), reason: /charge_energy_kwh/ },
  { value: charging({ station_id: '' }), reason: /without a station/ },
  { value: charging({ plugged_in_at: T + 60_000 }), reason: /after timestamp/ },
  { value: charging({ timestamp: 12 }), reason: /timestamp/ },
  { value: charging({ charging: 'yes' }), reason: /charging/ },
];

test('poison lands in the DLQ once each, with its reason; valid events still priced', async () => {
  const db = await freshDatabase();
  const port = await freePort();
  const grid = await startGrid(port);
  const topic = uniqueName('pricing-dlq');
  const dlq = `${topic}.dlq`;
  // One partition, so the poison sits between valid events of the same partition.
  await createTopic(kafka, topic, 1);
  const gen = generateStays({ cars: 10, samplesPerStay: 40, seed: 3 });
  const half = Math.floor(gen.events.length / 2);
  await produce(kafka, topic, [
    ...gen.events.slice(0, half),
    ...POISON.map((p) => ({ key: 'CAR-0000', value: p.value })),
    ...gen.events.slice(half),
  ]);
  const group = uniqueName('pw');
  const worker = await startWorker({ topic, dlq, group, gridUrl: `http://127.0.0.1:${port}`, databaseUrl: db.url });
  const letters: Array<{ key: string; value: string | null; reason: string; offset: string }> = [];
  const reader = kafka.consumer({ groupId: uniqueName('dlq-reader') });
  try {
    await waitFor('all rows', async () => (await rowCount(db.url)) === gen.chargingSamples, 60_000, 100);
    assert.equal(invariantErrors(gen.stays, await stayTotals(db.url)), []);

    // Restart the worker in the same group: committed offsets are not read again, so no letter
    // is sent twice.
    worker.signal('SIGTERM');
    assert.is(await worker.exited, 0, worker.output());
    const again = await startWorker({ topic, dlq, group, gridUrl: `http://127.0.0.1:${port}`, databaseUrl: db.url });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    again.signal('SIGTERM');
    await again.exited;

    await reader.connect();
    await reader.subscribe({ topic: dlq, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        letters.push({
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? null,
          reason: message.headers?.reason?.toString() ?? '',
          offset: message.headers?.source_offset?.toString() ?? '',
        });
      },
    });
    await waitFor('all letters', () => letters.length >= POISON.length, 30_000);
    // Anything sent twice would arrive right behind the rest.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.is(letters.length, POISON.length, JSON.stringify(letters, null, 1));
    assert.is(new Set(letters.map((l) => l.key)).size, POISON.length, 'one letter per source message');
    letters.forEach((letter, i) => {
      assert.is(letter.value, POISON[i]!.value);
      assert.match(letter.reason, POISON[i]!.reason);
      assert.is(letter.key, `${topic}-0-${letter.offset}`);
      assert.is(Number(letter.offset), half + i);
    });
  } finally {
    worker.signal('SIGKILL');
    await reader.disconnect();
    grid.signal('SIGTERM');
    await grid.exited;
    await db.drop();
  }
});

test.run();
