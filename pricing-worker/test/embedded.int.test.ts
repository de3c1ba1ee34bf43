/**
 * The energy invariant on the embedded TimescaleDB (PGlite), whose one backend is lent per
 * transaction: the worker keeps its one connection, and this test's own short queries get their
 * turn between its batches. Isolated by a schema of its own (PRICING_DB_SCHEMA).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createKafka, createLogger } from '@greenlane/common';
import {
  createTopic, freePort, generateStays, invariantErrors, produce, rowCount, startGrid, startWorker, stayTotals,
  testServers, uniqueName, waitFor,
} from './helpers.js';

const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'pricing-embedded-test', log: createLogger('pricing-test'), quiet: true });

async function onEmbedded(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testServers.timescaleUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

test('embedded TimescaleDB: Σ kwh = final meter and Σ kwh·price = cost for every stay; the hourly aggregate agrees', async () => {
  const schema = uniqueName('pricing').replace(/-/g, '_');
  await onEmbedded(`CREATE SCHEMA ${schema}`);
  const port = await freePort();
  const grid = await startGrid(port);
  const topic = uniqueName('pricing-embedded');
  await createTopic(kafka, topic, 3);
  const gen = generateStays({ cars: 12, samplesPerStay: 60, seed: 5 });
  await produce(kafka, topic, gen.events);
  const worker = await startWorker(
    { topic, dlq: `${topic}.dlq`, group: uniqueName('pw'), gridUrl: `http://127.0.0.1:${port}`, databaseUrl: testServers.timescaleUrl, schema },
    { PRICING_DB_ONE_CONNECTION: 'true' },
  );
  try {
    await waitFor('all rows', async () => (await rowCount(testServers.timescaleUrl, schema)) === gen.chargingSamples, 90_000, 500);
    worker.signal('SIGTERM');
    assert.is(await worker.exited, 0, worker.output());
    assert.equal(invariantErrors(gen.stays, await stayTotals(testServers.timescaleUrl, schema)), []);

    const client = new pg.Client({ connectionString: testServers.timescaleUrl });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${schema}, public`);
      const { rows } = await client.query<{ hypertable: boolean; kwh: number }>(`
        SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                       WHERE hypertable_schema = '${schema}' AND hypertable_name = 'charging_sessions') AS hypertable,
               (SELECT sum(kwh) FROM charging_sessions_hourly) AS kwh`);
      assert.is(rows[0]!.hypertable, true);
      const total = gen.stays.reduce((n, s) => n + s.finalMeter, 0);
      assert.ok(Math.abs(rows[0]!.kwh - total) < 1e-6, `hourly aggregate ${rows[0]!.kwh} ≠ ${total}`);
    } finally {
      await client.end();
    }
  } finally {
    worker.signal('SIGKILL');
    grid.signal('SIGTERM');
    await grid.exited;
    await onEmbedded(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
  }
});

test.run();
