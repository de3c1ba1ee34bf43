// Measures, on the shared embedded TimescaleDB (make up; build first): the pricing worker's rows/s
// with and without an idle psql open, and the delay a writer sees behind an analyst's idle
// transaction, long query or stream of short queries. Run: node pricing-worker/test/measure-analyst.mjs
// (figures in README, The database). Prints one JSON line per run/scenario.
import { spawn } from 'node:child_process';
import pg from 'pg';
import { createKafka, createLogger } from '@greenlane/common';
import { createTopic, freePort, generateStays, produce, rowCount, startGrid, startWorker, testServers, uniqueName, waitFor } from '../dist/test/helpers.js';
const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'measure', log: createLogger('measure'), quiet: true });
const URL_ = testServers.timescaleUrl;
const q = async (sql) => { const c = new pg.Client({ connectionString: URL_ }); await c.connect(); try { return (await c.query(sql)).rows; } finally { await c.end(); } };
const gridPort = await freePort(); const grid = await startGrid(gridPort);
async function run(withPsql) {
  const schema = uniqueName('measure').replace(/-/g, '_'); await q(`CREATE SCHEMA ${schema}`);
  let psql;
  if (withPsql) { psql = spawn('psql', [URL_, '-X'], { stdio: ['pipe', 'pipe', 'pipe'] }); psql.stdin.write("SELECT 1;\n"); await new Promise(r => psql.stdout.once('data', r)); }
  const topic = uniqueName('measure'); await createTopic(kafka, topic, 6);
  const gen = generateStays({ cars: 60, samplesPerStay: 200, seed: 3 }); await produce(kafka, topic, gen.events);
  const w = await startWorker({ topic, dlq: `${topic}.dlq`, group: uniqueName('pw'), gridUrl: `http://127.0.0.1:${gridPort}`, databaseUrl: URL_, schema });
  await waitFor('first rows', async () => (await rowCount(URL_, schema)) > 0, 60000, 50);
  const t0 = Date.now(); const n0 = await rowCount(URL_, schema);
  await waitFor('all rows', async () => (await rowCount(URL_, schema)) === gen.chargingSamples, 300000, 100);
  const s = (Date.now() - t0) / 1000;
  w.signal('SIGTERM'); await w.exited; psql?.stdin.end(); psql?.kill();
  await q(`DROP SCHEMA ${schema} CASCADE`);
  return { psql: withPsql, rows: gen.chargingSamples - n0, seconds: s, rowsPerSecond: Math.round((gen.chargingSamples - n0) / s) };
}
for (const p of [false, true, false, true]) console.log(JSON.stringify(await run(p)));
// Writer delay behind an analyst: a writer inserting one row per 20 ms; max latency per scenario.
const writer = new pg.Client({ connectionString: URL_ }); await writer.connect(); await writer.query('CREATE TABLE IF NOT EXISTS public.measure_w (x int)');
async function delayDuring(label, analystWork) {
  let stop = false, max = 0, n = 0; const lat = [];
  const loop = (async () => { while (!stop) { const t = performance.now(); await writer.query('INSERT INTO public.measure_w VALUES (1)'); const d = performance.now() - t; lat.push(d); max = Math.max(max, d); n++; await new Promise(r => setTimeout(r, 20)); } })();
  await new Promise(r => setTimeout(r, 500)); const a0 = performance.now(); await analystWork(); const analystMs = performance.now() - a0; await new Promise(r => setTimeout(r, 500)); stop = true; await loop;
  lat.sort((a, b) => a - b);
  console.log(JSON.stringify({ scenario: label, analystMs: Math.round(analystMs), writerMaxMs: Math.round(max), writerP50Ms: +lat[Math.floor(lat.length / 2)].toFixed(2), inserts: n }));
}
await delayDuring('nothing', async () => new Promise(r => setTimeout(r, 3000)));
await delayDuring('idle psql connection', async () => { const c = new pg.Client({ connectionString: URL_ }); await c.connect(); await new Promise(r => setTimeout(r, 3000)); await c.end(); });
await delayDuring('analyst BEGIN then idle (cut at the limit)', async () => { const c = new pg.Client({ connectionString: URL_ }); const cut = new Promise(r => c.on('error', r)); await c.connect(); await c.query('BEGIN'); await c.query('SELECT count(*) FROM public.measure_w'); await cut; });
await delayDuring('analyst SELECT pg_sleep(2)', async () => { const c = new pg.Client({ connectionString: URL_ }); await c.connect(); await c.query('SELECT pg_sleep(2)'); await c.end(); });
await delayDuring('analyst 5M-row aggregate', async () => { const c = new pg.Client({ connectionString: URL_ }); await c.connect(); await c.query('SELECT count(*), sum(g) FROM generate_series(1, 5000000) g'); await c.end(); });
await delayDuring('analyst busy: 200 short queries back to back', async () => { const c = new pg.Client({ connectionString: URL_ }); await c.connect(); for (let i = 0; i < 200; i++) await c.query("SELECT count(*) FROM public.measure_w"); await c.end(); });
await writer.query('DROP TABLE public.measure_w'); await writer.end();
grid.signal('SIGTERM'); await grid.exited; process.exit(0);
