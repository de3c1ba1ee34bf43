/**
 * The writer's kwh_usage derivation against real databases: in order, replayed, late, duplicated
 * and shuffled samples all end with kwh_usage = meter − previous meter of the stay, so
 * Σ kwh_usage = the latest meter reading.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createLogger, migrate } from '@greenlane/common';
import { isolatedSchema, testServers } from '@greenlane/common/testing';
import { writeRows } from '../src/db-writer.js';
import type { RowColumns } from '../src/rows.js';
import { freshDatabase, rng } from './helpers.js';

const log = createLogger('db-writer-test');
const T0 = Date.UTC(2026, 0, 15, 17, 0);

interface Sample { session: string; i: number; meter: number }

function columns(samples: Sample[]): RowColumns {
  return {
    count: samples.length,
    source: samples.map((_, i) => i),
    timeMs: samples.map((s) => T0 + s.i * 60_000),
    sessionId: samples.map((s) => s.session),
    stationId: samples.map(() => 'ST-1'),
    carId: samples.map((s) => `car-of-${s.session}`),
    meterKwh: samples.map((s) => s.meter),
    priceRate: samples.map(() => 0.3),
  };
}

/** A stay of n samples with a rising meter (Wh steps, so sums are exact to 1e-9). */
function stay(session: string, n: number, seed: number): Sample[] {
  const random = rng(seed);
  let meter = 0;
  return Array.from({ length: n }, (_, i) => {
    meter = Math.round((meter + random() * 0.5) * 1000) / 1000;
    return { session, i, meter };
  });
}

async function stored(db: pg.ClientBase, session: string) {
  const { rows } = await db.query<{ kwh_usage: number; meter_kwh: number }>(
    'SELECT kwh_usage, meter_kwh FROM charging_sessions WHERE session_id = $1 ORDER BY time', [session]);
  return rows;
}

/** Every stored row's kwh_usage is its meter minus the previous row's meter. */
async function assertTelescopes(db: pg.ClientBase, expected: Sample[]) {
  const rows = await stored(db, expected[0]!.session);
  assert.is(rows.length, expected.length, 'one row per sample');
  let previous = 0;
  let sum = 0;
  rows.forEach((r, k) => {
    assert.ok(Math.abs(r.kwh_usage - (r.meter_kwh - previous)) < 1e-9, `row ${k}: ${r.kwh_usage} ≠ ${r.meter_kwh} − ${previous}`);
    previous = r.meter_kwh;
    sum += r.kwh_usage;
  });
  assert.ok(Math.abs(sum - expected[expected.length - 1]!.meter) < 1e-9, `Σ ${sum} ≠ final meter`);
}

function cases(name: string, connect: () => Promise<{ db: pg.ClientBase; done(): Promise<void> }>) {
  const test = suite(`db-writer on ${name}`);
  let db: pg.ClientBase;
  let done: () => Promise<void>;
  const lock = { topic: 'writer-test', partition: 0 };
  test.before(async () => {
    ({ db, done } = await connect());
    await migrate(db, log);
  });
  test.after(async () => done());

  test('in order across batches, then a replay: one row per sample, nothing twice', async () => {
    const s = stay('in-order', 30, 1);
    assert.is((await writeRows(db, columns(s.slice(0, 10)), lock)).inserted, 10);
    assert.is((await writeRows(db, columns(s.slice(10, 30)), lock)).inserted, 20);
    const replay = await writeRows(db, columns(s.slice(5, 30)), lock);
    assert.equal([replay.inserted, replay.recomputedSessions], [0, 0]);
    await assertTelescopes(db, s);
  });

  test('a late sample (older than the stored tail) is inserted and its successor corrected', async () => {
    const s = stay('late', 6, 2);
    await writeRows(db, columns([s[0]!, s[1]!, s[3]!, s[5]!]), lock);
    const late = await writeRows(db, columns([s[2]!, s[4]!]), lock);
    assert.equal([late.inserted, late.recomputedSessions], [2, 1]);
    await assertTelescopes(db, s);
  });

  test('a sample before the first stored one, and duplicates inside one batch', async () => {
    const s = stay('early', 5, 3);
    await writeRows(db, columns([s[2]!, s[3]!]), lock);
    await writeRows(db, columns([s[0]!, s[0]!, s[4]!, s[4]!, s[1]!, s[3]!]), lock);
    await assertTelescopes(db, s);
  });

  test('shuffled, duplicated, randomly batched samples of many stays still telescope', async () => {
    const random = rng(99);
    const stays = Array.from({ length: 8 }, (_, k) => stay(`shuffled-${k}`, 40, 100 + k));
    const all = stays.flat();
    const stream = [...all, ...all.filter(() => random() < 0.3)];
    for (let i = stream.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [stream[i], stream[j]] = [stream[j]!, stream[i]!];
    }
    let inserted = 0;
    for (let i = 0; i < stream.length; ) {
      const size = 1 + Math.floor(random() * 60);
      inserted += (await writeRows(db, columns(stream.slice(i, i + size)), lock)).inserted;
      i += size;
    }
    assert.is(inserted, all.length);
    for (const s of stays) await assertTelescopes(db, s);
  });

  test.run();
}

cases('PostgreSQL 15 (fresh database)', async () => {
  const fresh = await freshDatabase();
  const client = new pg.Client({ connectionString: fresh.url });
  await client.connect();
  return { db: client, done: async () => { await client.end(); await fresh.drop(); } };
});

cases('the embedded TimescaleDB (isolated schema)', async () => {
  const isolated = await isolatedSchema(testServers.timescaleUrl);
  return { db: isolated.client, done: () => isolated.drop() };
});
