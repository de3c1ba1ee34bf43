/**
 * Issue 19 §1: the embedded TimescaleDB shared by everything at once. The pricing worker, the
 * history writer and the analytics API run side by side while two analysts' psql sessions are
 * open (one idle at its prompt, one that opened a transaction and left it) and a third connection
 * runs a long query: every telemetry event and every charging sample is stored, the API answers,
 * the abandoned transaction is cut off (25P03, at the server's idle-in-transaction limit) and the
 * idle psql still answers. Before the multiplexer, the first open session held the database.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createKafka, createLogger } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { createTopic, freePort, openPsql, produce, psqlUrl, spawnProgram, startGrid, waitReady, type Child } from '@greenlane/common/testing-programs';
import { generateFleet, startWriter } from './fleet.js';

const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'shared-embedded-test', log: createLogger('shared-test'), quiet: true });
const url = testServers.timescaleUrl;

async function count(schema: string, table: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.${table}`)).rows[0]!.n;
  } finally {
    await client.end();
  }
}

test('pricing worker, history writer and analytics API beside two psql analysts and a long query', async () => {
  const schema = uniqueName('shared').replace(/-/g, '_');
  const topic = uniqueName('shared');
  const children: Child[] = [];
  const idlePsql = openPsql(psqlUrl());
  const openTransaction = openPsql(psqlUrl());
  const gridPort = await freePort();
  const grid = await startGrid(gridPort);
  children.push(grid);
  try {
    assert.is(await idlePsql.ask(`CREATE SCHEMA ${schema}`), '');
    await createTopic(kafka, topic, 3);
    const pricingPort = await freePort();
    const pricing = spawnProgram('pricing-worker/dist/src/main.js', {
      KAFKA_BROKERS: testServers.kafkaBrokers.join(','), FLEET_EVENTS_TOPIC: topic, PRICING_DLQ_TOPIC: `${topic}.dlq`, PRICING_GROUP_ID: uniqueName('pw'),
      GRID_URL: `http://127.0.0.1:${gridPort}`, DATABASE_URL: url, PRICING_DB_SCHEMA: schema, PRICING_HTTP_ADDR: `127.0.0.1:${pricingPort}`, PRICING_POOL_SIZE: '1',
    });
    children.push(pricing);
    await waitReady(pricing, 'pricing worker ready', `http://127.0.0.1:${pricingPort}/ready`);
    const writer = await startWriter({ topic, group: uniqueName('hw'), databaseUrl: url, schema });
    children.push(writer);
    const apiPort = await freePort();
    const api = spawnProgram('analytics-api/dist/src/main.js', { DATABASE_URL: url, ANALYTICS_DB_SCHEMA: schema, ANALYTICS_ADDR: `127.0.0.1:${apiPort}`, OPERATOR_TOKENS: 'shared-test' });
    children.push(api);
    await waitReady(api, 'analytics API ready', `http://127.0.0.1:${apiPort}/ready`);

    // An analyst opens a transaction and leaves it; another connection runs a long query.
    assert.is(await openTransaction.ask('BEGIN'), '');
    assert.is(await openTransaction.ask(`SELECT count(*) FROM ${schema}.car_telemetry`), '0');
    const long = new pg.Client({ connectionString: url });
    await long.connect();
    const longQuery = long.query('SELECT pg_sleep(2)');

    const now = Date.now();
    const fleet = generateFleet({ cars: 12, samples: 40, startMs: now - 3600_000, prefix: 'SH' });
    const charging = 12 * (40 - Math.floor(40 * 0.75));
    await produce(kafka, topic, fleet.events);
    await waitFor('every telemetry event in car_telemetry', async () => (await count(schema, 'car_telemetry')) === fleet.telemetry, 120_000, 500);
    await waitFor('every charging sample in charging_sessions', async () => (await count(schema, 'charging_sessions')) === charging, 120_000, 500);
    await longQuery;
    await long.end();

    const from = encodeURIComponent(new Date(now - 2 * 3600_000).toISOString());
    const summary = await fetch(`http://127.0.0.1:${apiPort}/api/v1/fleet/summary?from=${from}`, { headers: { authorization: 'Bearer shared-test' } });
    assert.is(summary.status, 200);
    const hours = ((await summary.json()) as { hours: Array<{ samples: number }> }).hours;
    assert.is(hours.reduce((n, h) => n + h.samples, 0), fleet.telemetry);

    // The abandoned transaction was ended by the server; the idle psql was never in the way and still answers.
    // psql at its prompt reads the server's FATAL when it next talks to it (and, reading a script, exits).
    openTransaction.proc.stdin.on('error', () => undefined);
    await waitFor('the open transaction to be cut off', () => {
      if (openTransaction.proc.exitCode === null) openTransaction.proc.stdin.write('SELECT 1;\n');
      return openTransaction.output().includes('idle-in-transaction timeout');
    }, 30_000, 1000);
    assert.is(await idlePsql.ask(`SELECT count(*) FROM ${schema}.car_telemetry`), String(fleet.telemetry));
    assert.is(idlePsql.proc.exitCode, null, idlePsql.output());

    for (const child of [api, writer, pricing]) {
      child.signal('SIGTERM');
      assert.is(await child.exited, 0, child.output());
    }
  } finally {
    for (const child of children) child.signal('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    for (const p of [idlePsql, openTransaction]) {
      p.proc.stdin.end();
      p.proc.kill('SIGTERM');
    }
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
  }
});

test.run();
