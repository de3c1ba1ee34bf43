/**
 * pricing_consumer_lag tells the backlog while the database holds batches up (issue 13 §2): on
 * PostgreSQL 15, a transaction holding charging_sessions locked blocks every batch's insert; the
 * gauge must then show the waiting messages (it read 0 for every partition, as it was set only
 * after a commit), and go back to 0 once the rows are in.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createKafka, createLogger } from '@greenlane/common';
import { createTopic, freePort, freshDatabase, generateStays, produce, rowCount, startGrid, startWorker, testServers, uniqueName, waitFor } from './helpers.js';

const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'pricing-lag-test', log: createLogger('pricing-test'), quiet: true });

/** The worker's metric samples named `name`, by their label text. */
async function samples(port: number, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (match) out.set(match[1] ?? '', Number(match[2]));
  }
  return out;
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

test('the lag gauge shows the backlog while batches are blocked by the database, and 0 once they are in', async () => {
  const db = await freshDatabase();
  const gridPort = await freePort();
  const grid = await startGrid(gridPort);
  const topic = uniqueName('pricing-lag');
  await createTopic(kafka, topic, 3);
  const worker = await startWorker({ topic, dlq: `${topic}.dlq`, group: uniqueName('pw'), gridUrl: `http://127.0.0.1:${gridPort}`, databaseUrl: db.url });
  const locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
  try {
    // The worker is in its group and has made its table; now the database stops taking rows.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE charging_sessions IN ACCESS EXCLUSIVE MODE');
    const gen = generateStays({ cars: 6, samplesPerStay: 30, seed: 21 });
    await produce(kafka, topic, gen.events);

    const lag = await waitFor('the lag gauge to show the blocked backlog', async () => {
      const m = await samples(worker.port, 'pricing_consumer_lag');
      return total(m) > 0 ? m : undefined;
    }, 30_000, 100);
    assert.ok(total(lag) <= gen.events.length, `lag ${total(lag)} of ${gen.events.length} events`);
    assert.is(total(await samples(worker.port, 'pricing_rows_inserted_total')), 0, 'nothing committed while blocked');

    await locker.query('ROLLBACK');
    await waitFor('every sample stored', async () => (await rowCount(db.url)) === gen.chargingSamples, 60_000, 300);
    await waitFor('the lag gauge back to 0 on every partition', async () => {
      const m = await samples(worker.port, 'pricing_consumer_lag');
      return m.size > 0 && total(m) === 0;
    }, 30_000, 200);
  } finally {
    await locker.end().catch(() => undefined);
    worker.signal('SIGTERM');
    await worker.exited;
    grid.signal('SIGTERM');
    await grid.exited;
    await db.drop();
  }
});

test.run();
