/**
 * Incidents against the REAL ingestion (compiled, a child process on free ports, its own topic and
 * Redis database 11, presence timeouts shortened so a run is seconds long): what each incident
 * puts on fleet-events is what the alert engine and the live-ops CLI look for, and none of them
 * loses or duplicates an acknowledged CarStatus.
 *   speed  → telemetry above 100 km/h on every sample for over 10 s by the car's clock
 *   drop   → car_disconnected, car_offline (stream_closed), car_online (reconnected); its telemetry
 *            of the time away uploaded after
 *   vanish → car_offline (timeout), nothing from the car after
 *   stall  → plugged in and charging, the meter holding for the stall; never going down
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniqueName } from '@greenlane/common/testing';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { runRealistic } from '../src/realistic/run-realistic.js';
import { loadStations } from '../src/car/stations.js';
import { carId } from '../src/car/model.js';
import { defaultIncidentConfig, planIncidents, type IncidentConfig } from '../src/realistic/incidents.js';
import { createRandom, deriveSeed } from '../src/car/prng.js';
import { newSimCar } from '../src/car/behavior.js';
import { ingestionBuilt, ingestionProcess, readTopic, INGESTION_MAIN, type IngestionProcess } from './helpers.js';

const test = suite('incidents → ingestion');
const topic = uniqueName('simulator-incidents-it');
const token = uniqueName('token');
const prefix = `SIMINC-${uniqueName('r').slice(-6)}-`;
const CARS = 6;
const SEED = 21;
const INTERVAL = 200;
let ingestion: IngestionProcess;

test.before(async () => {
  if (!ingestionBuilt()) throw new Error(`${INGESTION_MAIN} is missing: build ingestion first (npx tsc -b ingestion)`);
  ingestion = await ingestionProcess({
    topic, token, redisDb: 11,
    // Offline 2 s after the last message, 0.5 s after a stream closed: the run needs seconds, not minutes.
    env: { PRESENCE_TIMEOUT_MS: '2000', PRESENCE_GRACE_MS: '500', PRESENCE_FLUSH_MS: '200' },
  });
  await ingestion.start();
});

test.after(async () => {
  await ingestion?.stop();
});

type Event = Record<string, unknown>;

test('speeding, a dropped stream, a vanished car and a stalled charger, as fleet-events shows them; nothing lost', async () => {
  const config: IncidentConfig = {
    ...defaultIncidentConfig(CARS, INTERVAL),
    mix: { speed: 1, drop: 1, vanish: 1, stall: 1 },
    speedingMs: { min: 12_000, max: 12_000 },
    dropMs: { min: 2_500, max: 2_500 },
    stallMs: 3_000,
    repeatMs: { min: 600_000, max: 600_000 },
    firstAt: { speed: { min: 500, max: 500 }, drop: { min: 1_000, max: 1_000 }, vanish: { min: 1_000, max: 1_000 } },
  };
  // Which car is which: the plan is the seed's (as runRealistic draws each car from deriveSeed(seed, i)).
  const batteries = Array.from({ length: CARS }, (_, i) => newSimCar(carId(i, prefix), createRandom(deriveSeed(SEED, i))).car.battery);
  const roles = planIncidents(SEED, batteries, config);
  const car = (kind: string) => carId(roles.find((r) => r.kind === kind)!.index, prefix);

  const acked: CarStatus[] = [];
  const summary = await runRealistic({
    target: ingestion.grpcTarget, token, cars: CARS, intervalMs: INTERVAL, durationSec: 15, channels: 2, seed: SEED, carPrefix: prefix,
    stations: loadStations(undefined).stations, incidents: config, onAck: (s) => acked.push(s),
  });
  assert.is(summary.failed, 0, JSON.stringify(summary));
  assert.is(summary.rejected, 0, JSON.stringify(summary));
  assert.is(summary.acked, summary.sent);
  assert.equal(summary.incidents, { speeding: 1, drops: 1, vanished: 1, stalls: 1 });

  const key = (e: Event) => `${String(e.car_id)}@${String(e.timestamp)}`;
  const mine = (es: Event[]) => es.filter((e) => String(e.car_id).startsWith(prefix));
  const telemetryOf = (es: Event[]) => mine(es).filter((e) => e.event_type === 'telemetry');
  const events = mine(
    await readTopic(topic, (es) => new Set(telemetryOf(es).map(key)).size >= summary.acked && mine(es).some((e) => e.event_type === 'car_offline' && e.car_id === car('vanish'))),
  );
  // Every acknowledged CarStatus is on the topic, the dropped car's upload included.
  const onTopic = new Set(telemetryOf(events).map(key));
  assert.is(onTopic.size, summary.acked);
  for (const s of acked) assert.ok(onTopic.has(`${s.carId}@${s.timestamp}`), `${s.carId}@${s.timestamp} missing`);
  const telemetry = (id: string) => {
    const byTs = new Map(telemetryOf(events).filter((e) => e.car_id === id).map((e) => [e.timestamp as number, e]));
    return [...byTs.values()].sort((a, b) => (a.timestamp as number) - (b.timestamp as number));
  };

  // speed: one unbroken run above 100 km/h lasting over 10 s by the car's timestamps.
  const speeder = telemetry(car('speed'));
  const fast = speeder.filter((e) => (e.velocity as number) > 100);
  assert.ok(fast.length > 0, 'the speeder sped');
  const first = speeder.indexOf(fast[0]!);
  assert.ok(speeder.slice(first, first + fast.length).every((e) => (e.velocity as number) > 100), 'above 100 on every sample of the run');
  assert.ok((fast[fast.length - 1]!.timestamp as number) - (fast[0]!.timestamp as number) > 10_000, 'for over 10 s');

  // drop: disconnected, offline (stream closed), online (reconnected): in this order on the car's partition.
  const presenceOf = (id: string) => events.filter((e) => e.car_id === id && String(e.event_type).startsWith('car_'));
  const dropped = presenceOf(car('drop'));
  const seq = dropped.map((e) => `${String(e.event_type)}${e.reason ? `:${String(e.reason)}` : ''}`);
  const at = (prefixOf: string, from = 0) => seq.findIndex((s, i) => i >= from && s.startsWith(prefixOf));
  const disconnected = at('car_disconnected');
  const offline = at('car_offline:stream_closed', disconnected);
  const online = at('car_online:reconnected', offline);
  assert.ok(disconnected >= 0 && offline > disconnected && online > offline, seq.join(', '));
  // Its telemetry has no gap: the time away was recorded and uploaded once the stream was back.
  const dropTs = telemetry(car('drop')).map((e) => e.timestamp as number);
  const gaps = dropTs.slice(1).map((t, i) => t - dropTs[i]!);
  assert.ok(Math.max(...gaps) < 2_000, `largest gap ${Math.max(...gaps)} ms`);

  // vanish: offline by timeout, nothing after; never online again.
  const vanished = presenceOf(car('vanish'));
  const gone = vanished.find((e) => e.event_type === 'car_offline');
  assert.is(gone?.reason, 'timeout', JSON.stringify(vanished));
  const last = Math.max(...telemetry(car('vanish')).map((e) => e.timestamp as number));
  assert.ok(last < (gone!.timestamp as number));
  assert.not.ok(vanished.slice(vanished.indexOf(gone!)).some((e) => e.event_type === 'car_online'));

  // stall: plugged in, charging, the meter not rising for the stall (about 3 s), never going down.
  const stay = telemetry(car('stall')).filter((e) => e.charging === true);
  assert.ok(stay.length > 0, 'the stalled car plugged in');
  const stays = new Map<number, Event[]>();
  for (const e of telemetry(car('stall')).filter((e) => typeof e.station_id === 'string')) {
    stays.set(e.plugged_in_at as number, [...(stays.get(e.plugged_in_at as number) ?? []), e]);
  }
  let longestFlatMs = 0;
  for (const samples of stays.values()) {
    let flatSince: number | undefined;
    for (let i = 1; i < samples.length; i++) {
      const [a, b] = [samples[i - 1]!, samples[i]!];
      assert.ok((b.charge_energy_kwh as number) >= (a.charge_energy_kwh as number), 'the meter never goes down within a stay');
      if (b.charging === true && b.charge_energy_kwh === a.charge_energy_kwh && (a.charge_energy_kwh as number) > 0) {
        flatSince ??= a.timestamp as number;
        longestFlatMs = Math.max(longestFlatMs, (b.timestamp as number) - flatSince);
      } else flatSince = undefined;
    }
  }
  assert.ok(longestFlatMs >= 3_000 - 2 * INTERVAL, `meter flat while charging for ${longestFlatMs} ms`);
});

test.run();
