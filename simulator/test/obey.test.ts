import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandType, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { createRandom, type Random } from '../src/car/prng.js';
import { currentStatus, defaultBehavior, newSimCar, pluggedInAt, update, type BehaviorConfig, type SimCar } from '../src/car/behavior.js';
import { obey } from '../src/car/obey.js';
import { insideIsland } from '../src/manhattan/streets.js';
import { NOW, command } from './command-fixtures.js';

const STATION = { lat: 40.7359, lon: -73.9911 };
const TIMES_SQUARE = { lat: 40.758, lon: -73.9855 };
const cfg = (over: Partial<BehaviorConfig> = {}): BehaviorConfig => ({ ...defaultBehavior(2000, new Map([['ST-017', STATION]])), ...over });

function driving(seed = 3): { sim: SimCar; random: Random } {
  const random = createRandom(seed);
  const sim = newSimCar('CAR-042', random);
  // Well charged and moving, so it neither asks for a slot nor stands still by chance.
  return { sim: { ...sim, car: { ...sim.car, battery: 90, velocity: 40 } }, random };
}

function charging(over: Partial<Extract<SimCar['phase'], { kind: 'charging' }>> = {}): SimCar {
  const { sim } = driving();
  return {
    ...sim,
    car: { ...sim.car, ...STATION, velocity: 0, battery: 30 },
    phase: { kind: 'charging', bookingId: 'B-1', stationId: 'ST-017', pluggedInAt: NOW - 10_000, energyKwh: 3, unplugAt: 90, ...over },
  };
}

/** Runs `n` updates from `now`, 2 s apart; returns the statuses and the last state. */
function run(sim: SimCar, random: Random, n: number, c = cfg(), from = NOW): { sim: SimCar; statuses: CarStatus[] } {
  const statuses: CarStatus[] = [];
  for (let i = 0; i < n; i++) {
    const next = update(sim, from + i * c.intervalMs, random, c);
    sim = next.sim;
    statuses.push(next.status);
  }
  return { sim, statuses };
}

const stop = suite('emergency stop and resume');

stop('EMERGENCY_STOP: 0 km/h at once, and the car stays where it is until RESUME', () => {
  const { sim, random } = driving();
  const stopped = obey(sim, command(), NOW);
  assert.equal(stopped.execution, { accepted: true, note: '' });
  // The answer's CarStatus already says 0 km/h, at the place it was.
  const answer = currentStatus(stopped.sim, NOW);
  assert.is(answer.velocity, 0);
  assert.is(answer.latitude, Math.round(sim.car.lat * 1e6) / 1e6);
  const held = run(stopped.sim, random, 50);
  for (const s of held.statuses) {
    assert.is(s.velocity, 0);
    assert.equal([s.latitude, s.longitude], [answer.latitude, answer.longitude]);
  }
  const resumed = obey(held.sim, command({ commandId: 'cmd-2', type: CommandType.RESUME }), NOW);
  assert.equal(resumed.execution, { accepted: true });
  const after = run(resumed.sim, random, 20);
  assert.ok(after.statuses.some((s) => s.velocity > 0), 'it drives again after RESUME');
  assert.ok(after.statuses.some((s) => s.latitude !== answer.latitude || s.longitude !== answer.longitude), 'and moves');
});

stop('stopping twice and resuming a car that is not stopped are accepted with a note', () => {
  const { sim } = driving();
  const once = obey(sim, command(), NOW).sim;
  assert.equal(obey(once, command({ commandId: 'x' }), NOW).execution, { accepted: true, note: 'already stopped' });
  assert.equal(obey(sim, command({ type: CommandType.RESUME }), NOW).execution, { accepted: true, note: 'not stopped' });
});

stop('a stay goes on under an emergency stop, and the car stays put when it ends', () => {
  const random = createRandom(8);
  const stopped = obey(charging({ unplugAt: 40 }), command(), NOW).sim;
  const { sim, statuses } = run(stopped, random, 30);
  const samples = statuses.filter((s) => s.charging);
  assert.ok(samples.length > 0 && samples.length < 30, `${samples.length} charging samples`);
  assert.is(sim.stays, 1);
  for (const s of statuses) {
    assert.is(s.velocity, 0);
    assert.equal([s.latitude, s.longitude], [Math.round(STATION.lat * 1e6) / 1e6, Math.round(STATION.lon * 1e6) / 1e6]);
  }
});

const trips = suite('reroute and return to base');

trips('REROUTE: the car drives along the streets to the point, arrives, and drives on', () => {
  const { sim, random } = driving(11);
  const sent = obey(sim, command({ type: CommandType.REROUTE, latitude: TIMES_SQUARE.lat, longitude: TIMES_SQUARE.lon }), NOW);
  assert.is(sent.execution.accepted, true);
  // Long updates, so the whole trip takes a few dozen of them.
  const c = cfg({ intervalMs: 60_000 });
  let state = sent.sim;
  let arrivedAt = -1;
  for (let i = 0; i < 200 && arrivedAt < 0; i++) {
    const next = update(state, NOW + i * c.intervalMs, random, c);
    state = next.sim;
    assert.ok(insideIsland({ lat: next.status.latitude, lon: next.status.longitude }) || state.trip === undefined, 'on the island all the way');
    if (next.status.latitude === TIMES_SQUARE.lat && next.status.longitude === TIMES_SQUARE.lon) arrivedAt = i;
  }
  assert.ok(arrivedAt >= 0, 'it reached the point');
  assert.is(state.trip, undefined);
  assert.is(state.hold, undefined);
  const after = run(state, random, 10, c);
  assert.ok(after.statuses.some((s) => s.velocity > 0), 'a rerouted car drives on');
});

trips('RETURN_TO_BASE: the car drives to base and parks there until RESUME', () => {
  const { sim, random } = driving(12);
  const c = cfg({ intervalMs: 60_000 });
  let state = obey(sim, command({ type: CommandType.RETURN_TO_BASE, latitude: STATION.lat, longitude: STATION.lon }), NOW).sim;
  for (let i = 0; i < 200 && state.trip !== undefined; i++) state = update(state, NOW + i * c.intervalMs, random, c).sim;
  assert.is(state.trip, undefined);
  assert.is(state.hold, 'at-base');
  const parked = run(state, random, 10, c);
  for (const s of parked.statuses) assert.equal([s.latitude, s.longitude, s.velocity], [STATION.lat, STATION.lon, 0]);
  const freed = obey(parked.sim, command({ type: CommandType.RESUME }), NOW).sim;
  assert.is(freed.hold, undefined);
});

trips('a trip does not ask for a charging slot on the way', () => {
  const { sim, random } = driving(13);
  const low = { ...sim, car: { ...sim.car, battery: 10 } };
  const sent = obey(low, command({ type: CommandType.REROUTE, latitude: TIMES_SQUARE.lat, longitude: TIMES_SQUARE.lon }), NOW).sim;
  const { statuses } = run(sent, random, 5);
  assert.ok(statuses.every((s) => s.bookingRequest === undefined));
});

trips('refused under an emergency stop, and for a point off the island', () => {
  const { sim } = driving();
  const stopped = obey(sim, command(), NOW).sim;
  const reroute = command({ commandId: 'r', type: CommandType.REROUTE, latitude: TIMES_SQUARE.lat, longitude: TIMES_SQUARE.lon });
  assert.equal(obey(stopped, reroute, NOW).execution, { accepted: false, reason: 'emergency-stopped: send RESUME first' });
  const la = obey(sim, command({ type: CommandType.RETURN_TO_BASE, latitude: 34.05, longitude: -118.24 }), NOW);
  assert.is(la.execution.accepted, false);
  assert.match((la.execution as { reason: string }).reason, /off Manhattan/);
  assert.is(la.sim, sim);
});

trips('a car plugged in unplugs for a trip: the stay ends, the next status is unplugged', () => {
  const random = createRandom(4);
  const sent = obey(charging(), command({ type: CommandType.REROUTE, latitude: TIMES_SQUARE.lat, longitude: TIMES_SQUARE.lon }), NOW);
  assert.equal(sent.execution, { accepted: true, note: 'unplugged from ST-017' });
  assert.is(sent.sim.stays, 1);
  assert.is(pluggedInAt(sent.sim), undefined);
  const answer = currentStatus(sent.sim, NOW);
  assert.equal([answer.stationId, answer.charging, answer.chargeEnergyKwh, answer.pluggedInAt], ['', false, 0, 0]);
  const next = update(sent.sim, NOW + 2000, random, cfg()).status;
  assert.is(next.stationId, '');
});

const stays = suite('start and stop charging');

stays('STOP_CHARGING pauses the stay: still plugged in, not charging, the meter holds; START_CHARGING resumes it', () => {
  const random = createRandom(21);
  const c = cfg();
  let sim = charging();
  const meter: number[] = [];
  const record = (s: CarStatus) => {
    assert.is(s.stationId, 'ST-017');
    assert.is(s.pluggedInAt, NOW - 10_000);
    meter.push(s.chargeEnergyKwh);
  };
  let t = NOW;
  const step = (n: number) => {
    const out = run(sim, random, n, c, t);
    t += n * c.intervalMs;
    sim = out.sim;
    out.statuses.forEach(record);
    return out.statuses;
  };
  const before = step(3);
  assert.ok(before.every((s) => s.charging));

  const stopped = obey(sim, command({ type: CommandType.STOP_CHARGING, stationId: 'ST-017' }), t);
  assert.equal(stopped.execution, { accepted: true });
  sim = stopped.sim;
  const answer = currentStatus(sim, t);
  assert.is(answer.charging, false);
  record(answer);
  const battery = sim.car.battery;
  const paused = step(5);
  assert.ok(paused.every((s) => !s.charging && s.chargeEnergyKwh === answer.chargeEnergyKwh && s.batteryLevel === answer.batteryLevel));
  assert.is(sim.car.battery, battery);
  assert.equal(obey(sim, command({ type: CommandType.STOP_CHARGING, stationId: 'ST-017' }), t).execution, { accepted: true, note: 'already stopped' });

  const started = obey(sim, command({ type: CommandType.START_CHARGING, stationId: 'ST-017' }), t);
  assert.equal(started.execution, { accepted: true });
  sim = started.sim;
  assert.is(currentStatus(sim, t).charging, true);
  const resumed = step(3);
  assert.ok(resumed.every((s) => s.charging));
  assert.ok(resumed[2]!.chargeEnergyKwh > answer.chargeEnergyKwh);
  assert.equal(obey(sim, command({ type: CommandType.START_CHARGING, stationId: 'ST-017' }), t).execution, { accepted: true, note: 'already charging' });
  // The energy invariant: within the stay the meter never goes down.
  for (let i = 1; i < meter.length; i++) assert.ok(meter[i]! >= meter[i - 1]!, `meter went down at ${i}: ${meter[i - 1]} -> ${meter[i]}`);
});

stays('a stay paused longer than pausedStayMs ends: the car unplugs and drives on', () => {
  const random = createRandom(22);
  const c = cfg({ pausedStayMs: 10_000 });
  const sim = obey(charging(), command({ type: CommandType.STOP_CHARGING, stationId: 'ST-017' }), NOW).sim;
  const { sim: after, statuses } = run(sim, random, 8, c);
  const plugged = statuses.filter((s) => s.stationId === 'ST-017');
  assert.is(plugged.length, 5);
  assert.ok(plugged.every((s) => !s.charging));
  assert.is(statuses[5]!.stationId, '');
  assert.is(after.stays, 1);
  assert.is(after.phase.kind, 'driving');
});

stop.run();
trips.run();
stays.run();
