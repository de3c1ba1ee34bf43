/**
 * The worker under faults, each test with its own topic, consumer group and fresh PostgreSQL 15
 * database, and the real grid mock: kill -9 mid-stream, a rebalance between two processes, the
 * grid down for a while. After each, every stay satisfies the energy invariant exactly.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createKafka, createLogger } from '@greenlane/common';
import {
  createTopic, freePort, freshDatabase, generateStays, invariantErrors, produce, produceOverTime, rowCount, startGrid, startWorker,
  stayTotals, testServers, uniqueName, waitFor, type Child,
} from './helpers.js';

const test = suite('pricing worker faults');
const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'pricing-faults-test', log: createLogger('pricing-test'), quiet: true });
let grid: Child;
let gridUrl = '';
const cleanups: Array<() => Promise<unknown>> = [];

test.before(async () => {
  const port = await freePort();
  grid = await startGrid(port);
  gridUrl = `http://127.0.0.1:${port}`;
});
test.after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  grid.signal('SIGTERM');
  await grid.exited;
});

async function setup(partitions: number) {
  const db = await freshDatabase();
  cleanups.push(() => db.drop());
  const topic = uniqueName('pricing-faults');
  await createTopic(kafka, topic, partitions);
  return { db, topic, dlq: `${topic}.dlq`, group: uniqueName('pw') };
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

test('kill -9 mid-stream, then a restart: nothing lost, nothing doubled', async () => {
  const { db, topic, dlq, group } = await setup(4);
  const gen = generateStays({ cars: 150, samplesPerStay: 120, seed: 7 });
  await produce(kafka, topic, gen.events);
  // Small fetches: many batches, so the kill lands between (or inside) them.
  const small = { PRICING_MAX_BYTES_PER_PARTITION: '8192' };
  const first = await startWorker({ topic, dlq, group, gridUrl, databaseUrl: db.url }, small);
  const atKill = await waitFor('some rows', async () => {
    const n = await rowCount(db.url);
    return n > 0 ? n : undefined;
  }, 60_000, 20);
  first.signal('SIGKILL');
  assert.is(await first.exited, 'SIGKILL');
  assert.ok(atKill < gen.chargingSamples, `killed mid-stream (${atKill} of ${gen.chargingSamples} rows)`);

  const second = await startWorker({ topic, dlq, group, gridUrl, databaseUrl: db.url });
  cleanups.push(async () => second.signal('SIGKILL'));
  await waitFor('all rows', async () => (await rowCount(db.url)) === gen.chargingSamples, 90_000, 250);
  await waitFor('all events committed', async () => (await metric(second.port, 'pricing_events_consumed_total')) > 0, 30_000);
  assert.equal(invariantErrors(gen.stays, await stayTotals(db.url)), []);
  second.signal('SIGTERM');
  assert.is(await second.exited, 0, second.output());
});

test('a rebalance between two worker processes: nothing lost, nothing doubled', async () => {
  const { db, topic, dlq, group } = await setup(6);
  const gen = generateStays({ cars: 150, samplesPerStay: 120, seed: 8 });
  const small = { PRICING_MAX_BYTES_PER_PARTITION: '8192' };
  const a = await startWorker({ topic, dlq, group, gridUrl, databaseUrl: db.url }, small);
  // A live stream of about 15 s, so both rebalances happen while events keep coming.
  const producing = produceOverTime(kafka, topic, gen.events, 200, 150);
  cleanups.push(async () => a.signal('SIGKILL'));
  await waitFor('first rows', async () => (await rowCount(db.url)) > 0, 60_000, 20);
  // B joins: the group rebalances and the partitions are split between A and B.
  const b = await startWorker({ topic, dlq, group, gridUrl, databaseUrl: db.url }, small);
  cleanups.push(async () => b.signal('SIGKILL'));
  await waitFor('B consumed something', async () => (await metric(b.port, 'pricing_events_consumed_total')) > 0, 60_000, 50);
  const beforeLeave = await rowCount(db.url);
  // A leaves mid-stream: a second rebalance hands its partitions to B.
  a.signal('SIGTERM');
  assert.is(await a.exited, 0, a.output());
  await producing;
  await waitFor('all rows', async () => (await rowCount(db.url)) === gen.chargingSamples, 90_000, 250);
  assert.ok(beforeLeave < gen.chargingSamples, 'A left before the end');
  assert.equal(invariantErrors(gen.stays, await stayTotals(db.url)), []);
  b.signal('SIGTERM');
  assert.is(await b.exited, 0, b.output());
});

test('the grid down for a while: the batch waits, nothing is skipped', async () => {
  const { db, topic, dlq, group } = await setup(3);
  const port = await freePort();
  let ownGrid = await startGrid(port);
  const url = `http://127.0.0.1:${port}`;
  const early = generateStays({ cars: 20, samplesPerStay: 30, seed: 9, carPrefix: 'EARLY' });
  // Another day, so none of its price periods are cached when the grid goes down.
  const late = generateStays({ cars: 20, samplesPerStay: 30, seed: 10, carPrefix: 'LATE', startMs: Date.UTC(2026, 1, 3, 6, 50) });
  const worker = await startWorker({ topic, dlq, group, gridUrl: url, databaseUrl: db.url }, { GRID_TIMEOUT_MS: '1000' });
  cleanups.push(async () => worker.signal('SIGKILL'));
  await produce(kafka, topic, early.events);
  await waitFor('early rows', async () => (await rowCount(db.url)) === early.chargingSamples, 60_000, 100);

  ownGrid.signal('SIGTERM');
  await ownGrid.exited;
  await produce(kafka, topic, late.events);
  await waitFor('the worker noticed the grid is down', async () => (await metric(worker.port, 'pricing_partition_pauses_total{cause="grid"}')) >= 2, 30_000, 100);
  assert.is(await rowCount(db.url), early.chargingSamples, 'no late row without its price');

  ownGrid = await startGrid(port);
  cleanups.push(async () => ownGrid.signal('SIGTERM'));
  await waitFor('late rows', async () => (await rowCount(db.url)) === early.chargingSamples + late.chargingSamples, 60_000, 100);
  assert.equal(invariantErrors([...early.stays, ...late.stays], await stayTotals(db.url)), []);
  worker.signal('SIGTERM');
  assert.is(await worker.exited, 0, worker.output());
});

test.run();
