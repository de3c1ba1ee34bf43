/**
 * Analysts connected to the embedded TimescaleDB do not stop the pricing worker (issue 13 §2):
 * with a real psql left open at its prompt and an idle pg connection beside it, the worker stores
 * every charging sample; an analyst's transaction left open is cut off (25P03) after the server's
 * idle-in-transaction limit and the worker then stores the next samples too, while psql still
 * answers. Before the multiplexer the first open connection held the server, and the worker timed
 * out connecting for as long as it stayed open. Isolated by a schema of its own.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createKafka, createLogger } from '@greenlane/common';
import { openPsql, psqlUrl } from '@greenlane/common/testing-programs';
import {
  createTopic, freePort, generateStays, invariantErrors, produce, rowCount, startGrid, startWorker, stayTotals,
  testServers, uniqueName, waitFor,
} from './helpers.js';

const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'pricing-analyst-test', log: createLogger('pricing-test'), quiet: true });

test('an idle psql, an idle connection and an idle-in-transaction analyst do not stop the worker', async () => {
  const schema = uniqueName('analyst').replace(/-/g, '_');
  const psql = openPsql(psqlUrl());
  const idle = new pg.Client({ connectionString: testServers.timescaleUrl });
  await idle.connect();
  const analystErrors: Error[] = [];
  const analyst = new pg.Client({ connectionString: testServers.timescaleUrl });
  analyst.on('error', (error) => analystErrors.push(error));
  await analyst.connect();
  const port = await freePort();
  const grid = await startGrid(port);
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  try {
    assert.is(await psql.ask(`CREATE SCHEMA ${schema}`), '');
    assert.is(await psql.ask("SELECT 'psql here'"), 'psql here');
    await idle.query('SELECT 1');
    // From here psql and `idle` sit open at their prompts, as an analyst's would.

    const topic = uniqueName('pricing-analyst');
    await createTopic(kafka, topic, 3);
    const first = generateStays({ cars: 8, samplesPerStay: 40, seed: 11, carPrefix: 'AN1' });
    await produce(kafka, topic, first.events);
    worker = await startWorker({ topic, dlq: `${topic}.dlq`, group: uniqueName('pw'), gridUrl: `http://127.0.0.1:${port}`, databaseUrl: testServers.timescaleUrl, schema });
    await waitFor('every sample of the first stays stored with psql open', async () => (await rowCount(testServers.timescaleUrl, schema)) === first.chargingSamples, 90_000, 500);

    // An analyst opens a transaction and leaves it: the server rolls it back after its limit, the worker goes on.
    await analyst.query('BEGIN');
    await analyst.query(`SELECT count(*) FROM ${schema}.charging_sessions`);
    const second = generateStays({ cars: 8, samplesPerStay: 40, seed: 12, carPrefix: 'AN2' });
    await produce(kafka, topic, second.events);
    const all = first.chargingSamples + second.chargingSamples;
    await waitFor('every sample of the second stays stored behind the open transaction', async () => (await rowCount(testServers.timescaleUrl, schema)) === all, 90_000, 500);
    await waitFor('the analyst to be told why', () => analystErrors.length > 0, 30_000);
    assert.is((analystErrors[0] as Error & { code?: string }).code, '25P03', analystErrors[0]!.message);

    // psql stayed open through all of it and still answers.
    assert.is(await psql.ask(`SELECT count(*) FROM ${schema}.charging_sessions`), String(all));
    assert.is(psql.proc.exitCode, null, psql.output());

    worker.signal('SIGTERM');
    assert.is(await worker.exited, 0, worker.output());
    assert.equal(invariantErrors([...first.stays, ...second.stays], await stayTotals(testServers.timescaleUrl, schema)), []);
  } finally {
    worker?.signal('SIGKILL');
    psql.proc.stdin.end();
    psql.proc.kill('SIGTERM');
    await idle.end().catch(() => undefined);
    await analyst.end().catch(() => undefined);
    grid.signal('SIGTERM');
    await grid.exited;
    const admin = new pg.Client({ connectionString: testServers.timescaleUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
  }
});

test.run();
