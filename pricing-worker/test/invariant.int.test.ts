import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createKafka, createLogger } from '@greenlane/common';
import {
  createTopic, freePort, freshDatabase, generateStays, invariantErrors, produce, rowCount, startGrid, startWorker,
  stayTotals, testServers, uniqueName, waitFor, type Child,
} from './helpers.js';

const test = suite('pricing worker on PostgreSQL 15: energy invariant');
const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'pricing-test', log: createLogger('pricing-test'), quiet: true });
let grid: Child;
let gridUrl = '';

test.before(async () => {
  const port = await freePort();
  grid = await startGrid(port);
  gridUrl = `http://127.0.0.1:${port}`;
});
test.after(async () => {
  grid.signal('SIGTERM');
  await grid.exited;
});

test('every stay: Σ kwh = final meter and Σ kwh·price = cost; replaying the events adds nothing', async () => {
  const db = await freshDatabase();
  const topic = uniqueName('pricing-inv');
  const dlq = `${topic}.dlq`;
  await createTopic(kafka, topic, 4);
  const gen = generateStays({ cars: 40, samplesPerStay: 90, seed: 1 });
  await produce(kafka, topic, gen.events);
  const worker = await startWorker({ topic, dlq, group: uniqueName('pw'), gridUrl, databaseUrl: db.url });
  try {
    await waitFor('all rows', async () => (await rowCount(db.url)) === gen.chargingSamples, 60_000, 250);
    assert.equal(invariantErrors(gen.stays, await stayTotals(db.url)), []);

    // The same events again (a producer retry storm, a replayed topic): nothing new.
    await produce(kafka, topic, gen.events);
    const metrics = async () => (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    await waitFor('replay consumed', async () => /pricing_events_consumed_total (\d+)/.exec(await metrics())?.[1] === String(gen.events.length * 2), 60_000, 250);
    assert.is(await rowCount(db.url), gen.chargingSamples);
    assert.equal(invariantErrors(gen.stays, await stayTotals(db.url)), []);
    const text = await metrics();
    assert.match(text, `pricing_rows_inserted_total ${gen.chargingSamples}`);
    assert.match(text, /pricing_price_cache_hits_total [1-9]/);
  } finally {
    worker.signal('SIGTERM');
    assert.is(await worker.exited, 0, worker.output());
    await db.drop();
  }
});

test.run();
