/**
 * Incidents of realistic mode: the schedule (which cars, when) from the seed; what each does at a
 * tick (speeding above 100 km/h for over 10 s on the streets, a dropped stream and its return, a
 * car that vanishes for good, a stalled charger whose meter holds and never goes down); the flags.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '@greenlane/common';
import { BookingStatus } from '@greenlane/common/gen/fleet/fleet';
import { createRandom } from '../src/car/prng.js';
import { defaultBehavior, newSimCar, onBookingResponse, update, type SimCar } from '../src/car/behavior.js';
import { distanceKm } from '../src/car/model.js';
import { insideIsland, shoreDistanceKm } from '../src/manhattan/streets.js';
import { CarIncidents, defaultIncidentConfig, defaultMix, emptyIncidentCounts, planIncidents, type IncidentConfig, type Role } from '../src/realistic/incidents.js';
import { parseIncidents, parseMix } from '../src/realistic/incident-options.js';
import { parseOptions } from '../src/options.js';

const INTERVAL = 2_000;
const behavior = defaultBehavior(INTERVAL, new Map());
const batteries = (n: number, seed = 1) => {
  const r = createRandom(seed);
  return Array.from({ length: n }, () => 15 + r() * 85);
};

const plan = suite('incident schedule');

plan('default mix by fleet size: a few speeding, one or two dropping, one vanishing, a stalled charger', () => {
  assert.equal(defaultMix(300), { speed: 3, drop: 2, vanish: 1, stall: 1 });
  assert.equal(defaultMix(10), { speed: 1, drop: 1, vanish: 1, stall: 1 });
  assert.equal(defaultMix(1000), { speed: 10, drop: 7, vanish: 1, stall: 3 });
  assert.equal(defaultMix(100_000), { speed: 10, drop: 10, vanish: 1, stall: 5 });
});

plan('the same seed gives the same plan; another seed another; one kind per car; first episodes in their windows', () => {
  const config = defaultIncidentConfig(300, INTERVAL);
  const b = batteries(300);
  const a = planIncidents(42, b, config);
  assert.equal(planIncidents(42, b, config), a);
  assert.not.equal(planIncidents(43, b, config), a);
  assert.is(a.length, 3 + 2 + 1 + 1);
  assert.is(new Set(a.map((r) => r.index)).size, a.length, 'one kind per car');
  for (const kind of ['speed', 'drop', 'vanish', 'stall'] as const) assert.is(a.filter((r) => r.kind === kind).length, config.mix[kind], kind);
  for (const r of a) {
    if (r.kind === 'stall') continue;
    const w = config.firstAt[r.kind];
    assert.ok(r.firstAt >= w.min && r.firstAt <= w.max, `${r.kind} at ${r.firstAt}`);
    // Within the first minute, and on cars that will not be off charging by then.
    assert.ok(r.firstAt < 60_000);
    assert.ok(b[r.index]! >= 40, `${r.kind} on car ${r.index} at ${b[r.index]}%`);
  }
  const stall = a.find((r) => r.kind === 'stall')!;
  assert.is(b[stall.index], Math.min(...b), 'the stalled charger is the emptiest car');
});

plan('a fleet too small for the mix gets what fits, stall first; a zero count gives none', () => {
  const config = defaultIncidentConfig(2, INTERVAL);
  assert.equal(planIncidents(7, [90, 80], config).map((r) => r.kind).sort(), ['speed', 'stall']);
  const none: IncidentConfig = { ...config, mix: { speed: 0, drop: 0, vanish: 1, stall: 0 } };
  assert.equal(planIncidents(7, [90, 80, 70], none).map((r) => r.kind), ['vanish']);
});

/** Drives one car through `seconds` of ticks at the interval; what it sent, with the time since the start. */
function drive(role: Role, seconds: number, config = defaultIncidentConfig(10, INTERVAL), start?: SimCar) {
  const random = createRandom(99);
  let sim = start ?? newSimCar('CAR-007', random);
  // Well charged: it drives on its own all along.
  if (!start) sim = { ...sim, car: { ...sim.car, battery: 95 } };
  const counts = emptyIncidentCounts();
  const notes: string[] = [];
  const inc = new CarIncidents(role, config, 42, counts, (t) => notes.push(t), 'CAR-007');
  const sent: Array<{ elapsed: number; velocity: number; lat: number; lon: number; action: string }> = [];
  for (let elapsed = 0; elapsed <= seconds * 1000; elapsed += INTERVAL) {
    const action = inc.streamAction(elapsed);
    if (action.kind === 'silent') {
      sent.push({ elapsed, velocity: NaN, lat: NaN, lon: NaN, action: 'silent' });
      continue;
    }
    const next = inc.update(sim, 1_000_000 + elapsed, elapsed, random, behavior, update);
    sim = next.sim;
    sent.push({ elapsed, velocity: next.status.velocity, lat: next.status.latitude, lon: next.status.longitude, action: action.kind === 'drop' ? `drop ${action.forMs}` : '' });
  }
  return { sent, counts, notes, inc, sim };
}

const behaviour = suite('incident behaviours');

behaviour('speeding: above 100 km/h on every sample for over 10 s, on the streets, then back to city speeds', () => {
  const { sent, counts, notes } = drive({ index: 6, kind: 'speed', firstAt: 20_000 }, 120);
  const fast = sent.filter((s) => s.velocity > 100);
  assert.ok(fast.length >= 8, `${fast.length} samples above 100`);
  // One unbroken run, starting at the episode.
  const first = sent.findIndex((s) => s.velocity > 100);
  const run = sent.slice(first, first + fast.length);
  assert.ok(run.every((s) => s.velocity > 100 && s.velocity <= 135), JSON.stringify(run));
  assert.ok(run[run.length - 1]!.elapsed - run[0]!.elapsed > 10_000, 'held over 10 s by the car\'s clock');
  assert.is(run[0]!.elapsed, 20_000);
  assert.ok(sent.slice(0, first).every((s) => s.velocity <= 60));
  assert.ok(sent.slice(first + fast.length).every((s) => s.velocity <= 60), 'after it, city speeds again');
  // It moves about as fast as it says (along the streets, so the straight line may be shorter; the
  // point is kept on the street it is on, a few metres) and stays on the island.
  let km = 0;
  for (let i = first + 1; i < first + fast.length; i++) {
    const step = distanceKm(sent[i - 1]!, sent[i]!);
    assert.ok(step <= (sent[i]!.velocity * INTERVAL) / 3_600_000 + 0.015, `step ${step} km at ${sent[i]!.velocity} km/h`);
    km += step;
  }
  const expected = run.slice(1).reduce((sum, s) => sum + (s.velocity * INTERVAL) / 3_600_000, 0);
  assert.ok(km > expected * 0.6, `moved ${km} km, ${expected} km at the speeds sent`);
  for (const s of sent) assert.ok(insideIsland(s) || shoreDistanceKm(s) < 0.05, `${s.lat},${s.lon}`);
  assert.is(counts.speeding, 1);
  assert.match(notes[0]!, /CAR-007 speeding at about \d+ km\/h for \d+ s \(incident\)/);
});

behaviour('speeding again after the repeat interval; never while charging or under a hold', () => {
  const config = { ...defaultIncidentConfig(10, INTERVAL), repeatMs: { min: 60_000, max: 60_000 } };
  const { counts } = drive({ index: 6, kind: 'speed', firstAt: 10_000 }, 200, config);
  assert.ok(counts.speeding >= 2, `episodes ${counts.speeding}`);
  const random = createRandom(5);
  const held: SimCar = { ...newSimCar('CAR-008', random), hold: 'emergency-stop' };
  const inc = new CarIncidents({ index: 7, kind: 'speed', firstAt: 0 }, config, 42);
  const next = inc.update(held, 1_000_000, 5_000, random, behavior, update);
  assert.is(next.status.velocity, 0, 'an emergency-stopped car does not speed');
});

behaviour('drop: once per episode, for the episode\'s length, again after the repeat interval', () => {
  const config = { ...defaultIncidentConfig(10, INTERVAL), repeatMs: { min: 60_000, max: 60_000 } };
  const { sent, counts, notes } = drive({ index: 3, kind: 'drop', firstAt: 14_000 }, 150, config);
  const drops = sent.filter((s) => s.action.startsWith('drop'));
  assert.ok(drops.length >= 2, JSON.stringify(drops));
  assert.is(drops[0]!.elapsed, 14_000);
  const forMs = Number(drops[0]!.action.split(' ')[1]);
  assert.ok(forMs >= config.dropMs.min && forMs <= config.dropMs.max, `${forMs}`);
  // Its telemetry goes on meanwhile (queued, uploaded when the stream is back): no tick is silent.
  assert.ok(sent.every((s) => s.action !== 'silent'));
  assert.ok(drops[1]!.elapsed - drops[0]!.elapsed >= 60_000 + config.dropMs.min);
  assert.is(counts.drops, drops.length);
  assert.match(notes[0]!, /CAR-007 dropped its stream for \d+ s \(incident\)/);
});

behaviour('vanish: sends until its time, then nothing ever again', () => {
  const { sent, counts, inc } = drive({ index: 2, kind: 'vanish', firstAt: 15_000 }, 300);
  const silentFrom = sent.findIndex((s) => s.action === 'silent');
  assert.is(sent[silentFrom]!.elapsed, 16_000, 'the first tick at or after 15 s');
  assert.ok(sent.slice(silentFrom).every((s) => s.action === 'silent'));
  assert.ok(sent.slice(0, silentFrom).every((s) => s.action === ''));
  assert.is(counts.vanished, 1);
  assert.ok(inc.vanished);
});

behaviour('stalled charger: plugged in and charging, meter and battery hold for the stall, then rise; never down', () => {
  const config = { ...defaultIncidentConfig(10, INTERVAL), stallMs: 60_000 };
  const random = createRandom(3);
  const role: Role = { index: 0, kind: 'stall', firstAt: 0 };
  let sim = CarIncidents.prepare(role, { ...newSimCar('CAR-001', random), car: { ...newSimCar('CAR-001', random).car, battery: 70 } }, behavior);
  assert.ok(sim.car.battery < behavior.lowBatteryPct, 'prepared to ask for a slot at once');
  const counts = emptyIncidentCounts();
  const inc = new CarIncidents(role, config, 42, counts);
  const samples: Array<{ elapsed: number; meter: number; battery: number; charging: boolean; station: string; plugged: number }> = [];
  for (let elapsed = 0; elapsed <= 200_000; elapsed += INTERVAL) {
    const now = 1_000_000 + elapsed;
    const next = inc.update(sim, now, elapsed, random, behavior, update);
    sim = next.sim;
    if (next.status.bookingRequest) sim = onBookingResponse(sim, { bookingId: 'b1', carId: 'CAR-001', stationId: 'ST-001', status: BookingStatus.BOOKING_CONFIRMED, message: '', timestamp: now, priceRate: 0.3, command: undefined }, now, behavior);
    const s = next.status;
    if (s.stationId) samples.push({ elapsed, meter: s.chargeEnergyKwh, battery: s.batteryLevel, charging: s.charging, station: s.stationId, plugged: s.pluggedInAt });
  }
  assert.ok(samples.length > 0, 'it plugged in');
  assert.is(new Set(samples.map((s) => s.plugged)).size, 1, 'one stay');
  for (let i = 1; i < samples.length; i++) assert.ok(samples[i]!.meter >= samples[i - 1]!.meter, `meter went down at ${samples[i]!.elapsed}`);
  // Flat while stalled: consecutive charging samples with the same reading, for the stall's length.
  const flat = samples.filter((s, i) => i > 0 && s.charging && s.meter === samples[i - 1]!.meter && s.meter > 0);
  assert.ok(flat.length >= 60_000 / INTERVAL - 1, `flat samples ${flat.length}`);
  assert.ok(flat.every((s) => s.charging && s.station === 'ST-001'));
  assert.ok(flat[flat.length - 1]!.elapsed - flat[0]!.elapsed >= 60_000 - 2 * INTERVAL);
  const stalledBattery = flat.map((s) => s.battery);
  assert.is(new Set(stalledBattery).size, 1, 'the battery holds too');
  // Before it: charged normally; after it: rising again.
  const firstFlat = samples.indexOf(flat[0]!);
  assert.ok(samples[firstFlat - 1]!.meter > 0);
  const after = samples.filter((s) => s.elapsed > flat[flat.length - 1]!.elapsed);
  assert.ok(after.some((s) => s.meter > flat[0]!.meter), 'charging went on after the stall');
  assert.is(counts.stalls, 1);
});

const flags = suite('incident flags');
const base = { load: false, cars: 300, intervalMs: INTERVAL, ackedLog: undefined };

flags('on by default in realistic mode; off with --acked-log (a checked run), in load mode, or when asked', () => {
  assert.equal(parseIncidents({}, {}, base)?.mix, { speed: 3, drop: 2, vanish: 1, stall: 1 });
  assert.is(parseIncidents({}, {}, { ...base, ackedLog: '/tmp/a.log' }), undefined);
  assert.ok(parseIncidents({ incidents: 'on' }, {}, { ...base, ackedLog: '/tmp/a.log' }));
  assert.is(parseIncidents({}, {}, { ...base, load: true }), undefined);
  assert.is(parseIncidents({ incidents: 'off' }, {}, base), undefined);
  assert.is(parseIncidents({}, { SIM_INCIDENTS: 'off' }, base), undefined);
  assert.ok(parseIncidents({ incidents: 'on' }, { SIM_INCIDENTS: 'off' }, base), 'the flag wins');
  assert.throws(() => parseIncidents({ incidents: 'on' }, {}, { ...base, load: true }), (e: unknown) => e instanceof ConfigError && e.variable === '--incidents');
  assert.throws(() => parseIncidents({ incidents: 'maybe' }, {}, base), (e: unknown) => e instanceof ConfigError && e.variable === '--incidents');
  // Through the simulator's own options.
  assert.ok(parseOptions({}, {}).incidents);
  assert.is(parseOptions({ 'acked-log': '/tmp/x.log' }, {}).incidents, undefined);
  assert.is(parseOptions({ mode: 'load' }, {}).incidents, undefined);
});

flags('mix, stall duration and repeat interval', () => {
  assert.equal(parseMix('speed=5, vanish=0', '--incident-mix', defaultMix(300)), { speed: 5, drop: 2, vanish: 0, stall: 1 });
  for (const bad of ['speed', 'speed=x', 'teleport=1', 'speed=-1', 'speed=99999']) {
    assert.throws(() => parseMix(bad, 'SIM_INCIDENT_MIX', defaultMix(300)), (e: unknown) => e instanceof ConfigError && e.variable === 'SIM_INCIDENT_MIX', bad);
  }
  const c = parseIncidents({ 'incident-mix': 'drop=4', 'stall-duration': '90s' }, { SIM_INCIDENT_EVERY: '2m' }, base)!;
  assert.is(c.mix.drop, 4);
  assert.is(c.stallMs, 90_000);
  assert.equal(c.repeatMs, { min: 120_000, max: 240_000 });
  assert.throws(() => parseIncidents({ 'stall-duration': 'long' }, {}, base), (e: unknown) => e instanceof ConfigError && e.variable === '--stall-duration');
  assert.throws(() => parseIncidents({}, { SIM_INCIDENT_EVERY: '0s' }, base), (e: unknown) => e instanceof ConfigError && e.variable === 'SIM_INCIDENT_EVERY');
});

flags('speeding lasts at least 6 updates whatever the interval', () => {
  assert.ok(defaultIncidentConfig(10, 10_000).speedingMs.min >= 60_000);
  assert.is(defaultIncidentConfig(10, 2_000).speedingMs.min, 15_000);
});

plan.run();
behaviour.run();
flags.run();
