/**
 * Test fixtures: generated charging stays with their expected energy and cost, the real grid mock
 * and the worker as child processes, fresh databases, Kafka topics.
 */
import pg from 'pg';
import type { Kafka } from 'kafkajs';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { freshDatabase as freshDatabaseNamed, spawnProgram } from '@greenlane/common/testing-programs';

// Shared with the other workspaces' tests (common/src/testing-programs.ts).
export { ROOT, createTopic, freePort, produce, startGrid, type Child } from '@greenlane/common/testing-programs';
import { freePort, waitReady, type Child } from '@greenlane/common/testing-programs';

/** A fresh database on the PostgreSQL 15 test server, since the worker migrates its default schema. */
export const freshDatabase = () => freshDatabaseNamed('pricing');

// ── The published curve, written again here from grid-mock/README.md so the expected cost does
// not come from the code under test.
export function expectedPrice(ms: number): number {
  const start = Math.floor(ms / 900_000) * 900_000;
  const d = new Date(start);
  const hour = d.getUTCHours();
  const h = hour + d.getUTCMinutes() / 60;
  let tariff: number;
  if (h >= 2 && h <= 18) tariff = 0.25 - 0.15 * Math.cos((Math.PI * (h - 2)) / 16);
  else {
    const u = (((h - 18) % 24) + 24) % 24 / 8;
    tariff = 0.1 + 0.3 * (1 - u) ** 2;
  }
  const solar = hour >= 8 && hour <= 18;
  return Math.round(tariff * (solar ? 0.9 : 1) * 10_000) / 10_000;
}

/** Deterministic PRNG (mulberry32) so a failing run can be repeated. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Stay {
  car: string;
  station: string;
  pluggedInAt: number;
  finalMeter: number;
  cost: number;
  samples: number;
}

export interface Generated {
  events: Array<{ key: string; value: string }>;
  stays: Stay[];
  chargingSamples: number;
}

/**
 * `cars` cars, each driving a little (no rows), then one charging stay of `samplesPerStay` samples
 * one minute apart, crossing price periods (and, from 17:40 UTC, the 18:00 peak and the Solar to
 * Wind change at 19:00), then a booking event (no row). Events are in time order per car.
 */
export function generateStays(opts: { cars: number; samplesPerStay: number; seed?: number; carPrefix?: string; startMs?: number }): Generated {
  const random = rng(opts.seed ?? 42);
  const start = opts.startMs ?? Date.UTC(2026, 0, 15, 17, 40);
  const prefix = opts.carPrefix ?? 'CAR';
  const perCar: Array<Array<{ key: string; value: string }>> = [];
  const stays: Stay[] = [];
  let chargingSamples = 0;
  for (let c = 0; c < opts.cars; c++) {
    const car = `${prefix}-${String(c).padStart(4, '0')}`;
    const station = `ST-${c % 7}`;
    const list: Array<{ key: string; value: string }> = [];
    const base = start + c * 7_000;
    for (let i = 0; i < 3; i++) {
      list.push({ key: car, value: JSON.stringify({ event_type: 'telemetry', event_id: `${car}-d${i}`, car_id: car, lat: 40.75, lon: -73.98, battery: 30, velocity: 20, timestamp: base + i * 2000 }) });
    }
    const pluggedInAt = base + 10_000;
    let meter = 0;
    let cost = 0;
    for (let i = 0; i < opts.samplesPerStay; i++) {
      const timestamp = pluggedInAt + 1000 + i * 60_000;
      const added = Math.round(random() * 500) / 1000; // 0..0.5 kWh, to the Wh
      meter = Math.round((meter + added) * 1000) / 1000;
      cost += added * expectedPrice(timestamp);
      list.push({
        key: car,
        value: JSON.stringify({
          event_type: 'telemetry', event_id: `${car}-c${i}`, car_id: car, lat: 40.75, lon: -73.98, battery: 30 + i * 0.1, velocity: 0,
          timestamp, station_id: station, charging: true, charge_energy_kwh: meter, plugged_in_at: pluggedInAt,
        }),
      });
      chargingSamples++;
    }
    list.push({ key: car, value: JSON.stringify({ event_type: 'booking_confirmed', event_id: `${car}-b`, car_id: car, booking_id: `B-${car}`, station_id: station, price_rate: 0.3, timestamp: pluggedInAt + opts.samplesPerStay * 60_000 }) });
    stays.push({ car, station, pluggedInAt, finalMeter: meter, cost, samples: opts.samplesPerStay });
    perCar.push(list);
  }
  // Interleave cars (round robin) the way a live stream would.
  const events: Array<{ key: string; value: string }> = [];
  const longest = Math.max(0, ...perCar.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const list of perCar) if (i < list.length) events.push(list[i]!);
  return { events, stays, chargingSamples };
}

/** Produces `events` in chunks spread over time, like a live stream; resolves when all are sent. */
export async function produceOverTime(kafka: Kafka, topic: string, events: Array<{ key: string; value: string }>, chunk: number, intervalMs: number): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += chunk) {
      await producer.send({ topic, acks: -1, messages: events.slice(i, i + chunk) });
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } finally {
    await producer.disconnect();
  }
}

export interface WorkerEnv {
  topic: string;
  dlq: string;
  group: string;
  gridUrl: string;
  databaseUrl: string;
  schema?: string;
  poolSize?: number;
}

export async function startWorker(w: WorkerEnv, extra: Record<string, string> = {}): Promise<Child & { port: number }> {
  const port = await freePort();
  const child = spawnProgram('pricing-worker/dist/src/main.js', {
    KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
    FLEET_EVENTS_TOPIC: w.topic,
    PRICING_DLQ_TOPIC: w.dlq,
    PRICING_GROUP_ID: w.group,
    GRID_URL: w.gridUrl,
    DATABASE_URL: w.databaseUrl,
    ...(w.schema ? { PRICING_DB_SCHEMA: w.schema } : {}),
    PRICING_POOL_SIZE: String(w.poolSize ?? 2),
    PRICING_HTTP_ADDR: `127.0.0.1:${port}`,
    PRICING_MAX_BYTES_PER_PARTITION: '65536',
    PRICING_SESSION_TIMEOUT_MS: '8000',
    ...extra,
  });
  await waitReady(child, 'worker ready', `http://127.0.0.1:${port}/ready`);
  return { ...child, port };
}

export interface StayTotals {
  session_id: string;
  car_id: string;
  station_id: string;
  rows: number;
  kwh: number;
  cost: number;
  last_meter: number;
}

export async function stayTotals(url: string, schema?: string): Promise<StayTotals[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if (schema) await client.query(`SET search_path TO ${schema}, public`);
    const { rows } = await client.query<StayTotals>(`
      SELECT session_id, car_id, station_id, count(*)::int AS rows, sum(kwh_usage) AS kwh,
             sum(kwh_usage * price_rate) AS cost,
             (array_agg(meter_kwh ORDER BY time DESC))[1] AS last_meter
      FROM charging_sessions GROUP BY session_id, car_id, station_id ORDER BY car_id`);
    return rows;
  } finally {
    await client.end();
  }
}

export async function rowCount(url: string, schema?: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if (schema) await client.query(`SET search_path TO ${schema}, public`);
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM charging_sessions');
    return rows[0]!.n;
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return 0;
    throw error;
  } finally {
    await client.end();
  }
}

/** The energy invariant, per stay: rows = samples, Σ kwh = final meter, Σ kwh·price = cost. */
export function invariantErrors(stays: Stay[], totals: StayTotals[]): string[] {
  const byCar = new Map(totals.map((t) => [t.car_id, t]));
  const errors: string[] = [];
  if (totals.length !== stays.length) errors.push(`${totals.length} sessions stored, ${stays.length} stays generated`);
  for (const s of stays) {
    const t = byCar.get(s.car);
    if (!t) {
      errors.push(`${s.car}: no rows`);
      continue;
    }
    if (t.rows !== s.samples) errors.push(`${s.car}: ${t.rows} rows, ${s.samples} samples`);
    if (Math.abs(t.kwh - s.finalMeter) > 1e-9) errors.push(`${s.car}: Σ kwh ${t.kwh} ≠ final meter ${s.finalMeter}`);
    if (Math.abs(t.cost - s.cost) > 1e-9) errors.push(`${s.car}: Σ kwh·price ${t.cost} ≠ cost ${s.cost}`);
  }
  return errors;
}

export { uniqueName, waitFor, testServers };
