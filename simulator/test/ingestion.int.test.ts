/**
 * The simulator against the REAL ingestion service (compiled, as a child process on free ports,
 * its own topic and Redis database 10): every message sent is acknowledged, every acknowledged
 * message is on the topic, bookings become charging stays, a restart of ingestion loses nothing,
 * and a wrong token is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniqueName } from '@greenlane/common/testing';
import { runLoad } from '../src/load/run-load.js';
import { runRealistic } from '../src/realistic/run-realistic.js';
import { loadStations } from '../src/car/stations.js';
import { ingestionBuilt, ingestionProcess, readTopic, INGESTION_MAIN, type IngestionProcess } from './helpers.js';

const test = suite('simulator → ingestion');
const topic = uniqueName('simulator-it');
const token = uniqueName('token');
const run = uniqueName('r').slice(-6);
let ingestion: IngestionProcess;

test.before(async () => {
  if (!ingestionBuilt()) throw new Error(`${INGESTION_MAIN} is missing: build ingestion first (npx tsc -b ingestion)`);
  // Load mode sends as fast as acks allow, so on a fast machine a car passes the default per-car
  // rate (50/s, burst 500) within its two seconds: the limit is the ingestion's own tests' concern.
  ingestion = await ingestionProcess({ topic, token, redisDb: 10, env: { INGESTION_CAR_RATE: '0' } });
  await ingestion.start();
});

test.after(async () => {
  await ingestion?.stop();
});

const loadPrefix = `SIMLOAD-${run}-`;
let loadAcked = 0;

test('load mode: every message sent is acknowledged, and every acknowledged one is on the topic', async () => {
  const summary = await runLoad({
    target: ingestion.grpcTarget, token, cars: 20, durationSec: 2, rate: undefined, inflight: 2,
    channels: 4, threads: 2, seed: 1, intervalMs: 2000, carPrefix: loadPrefix, drainMs: 5000,
  });
  assert.ok(summary.sent > 0);
  assert.is(summary.acked, summary.sent, JSON.stringify(summary));
  assert.is(summary.rejected, 0);
  assert.is(summary.failed, 0);
  loadAcked = summary.acked;

  // Telemetry only: the topic also carries the cars' connectivity and presence events.
  const mine = (es: Array<Record<string, unknown>>) => es.filter((e) => e.event_type === 'telemetry' && String(e.car_id).startsWith(loadPrefix));
  const events = await readTopic(topic, (es) => new Set(mine(es).map((e) => e.event_id)).size >= loadAcked);
  const ids = new Set(mine(events).map((e) => e.event_id));
  assert.is(ids.size, loadAcked);
});

test('realistic mode across an ingestion restart: nothing lost, bookings become charging stays', async () => {
  const prefix = `SIMREAL-${run}-`;
  let restarted = false;
  const restart = (async () => {
    await new Promise((r) => setTimeout(r, 2500));
    await ingestion.stop();
    await ingestion.start();
    restarted = true;
  })();
  const summary = await runRealistic({
    target: ingestion.grpcTarget,
    token,
    cars: 8,
    intervalMs: 100,
    durationSec: 12,
    channels: 2,
    seed: 11,
    carPrefix: prefix,
    stations: loadStations(undefined).stations,
    // Every car asks for a slot at once and charges fast, so a short run holds whole stays.
    behavior: { lowBatteryPct: 101, tripUpdates: 3, chargePerUpdate: { min: 15, max: 25 }, retryAfterMs: 500 },
  });
  await restart;
  assert.ok(restarted);
  assert.ok(summary.sent > 0);
  assert.is(summary.failed, 0, JSON.stringify(summary));
  assert.is(summary.rejected, 0, JSON.stringify(summary));
  assert.is(summary.acked, summary.sent);
  assert.ok(summary.reconnects > 0, 'the restart broke the streams');
  assert.ok(summary.bookings.requested > 0 && summary.bookings.confirmed > 0, JSON.stringify(summary.bookings));
  assert.ok(summary.staysCompleted > 0, JSON.stringify(summary));

  // Each car's updates have distinct timestamps: one telemetry event per acknowledged CarStatus.
  const key = (e: Record<string, unknown>) => `${String(e.car_id)}@${String(e.timestamp)}`;
  const mine = (es: Array<Record<string, unknown>>) => es.filter((e) => e.event_type === 'telemetry' && String(e.car_id).startsWith(prefix));
  const events = await readTopic(topic, (es) => new Set(mine(es).map(key)).size >= summary.acked);
  const telemetry = mine(events);
  assert.is(new Set(telemetry.map(key)).size, summary.acked);
  const charging = telemetry.filter((e) => e.charging === true);
  assert.ok(charging.length > 0);
  for (const e of charging) {
    assert.type(e.station_id, 'string');
    assert.ok((e.plugged_in_at as number) > 0);
  }
  assert.ok(events.some((e) => e.event_type === 'booking_confirmed' && String(e.car_id).startsWith(prefix)));
});

test('a wrong token: every message is counted as rejected, none acknowledged', async () => {
  const summary = await runLoad({
    target: ingestion.grpcTarget, token: 'not-the-token', cars: 2, durationSec: 0.5, rate: undefined, inflight: 1,
    channels: 1, threads: 1, seed: 1, intervalMs: 2000, carPrefix: `SIMBAD-${run}-`, drainMs: 2000,
  });
  assert.is(summary.acked, 0);
  assert.ok(summary.sent > 0);
  assert.is(summary.rejected, summary.sent);
  assert.match(summary.firstError ?? '', /UNAUTHENTICATED|token/i);
});

test.run();
