// The alerts and presence checks' pure parts (chaos/lib/alerts-check.mjs, presence-check.mjs): the
// expected alert transitions of each rule as the alert engine's README states them, the sequence
// and comparison faults, the presence classification around a killed ingestion, and the movers'
// TCP proxy. No servers.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ALERT_RULES, SERVICE_AREA, applyInput, areaTolerance, compareTransitions, expectCar, inputOf, newCarModel, outsideMetres, sequenceFaults,
} from '../lib/alerts-check.mjs';
import { classifyPresence, presenceGaps, startProxy } from '../lib/presence-check.mjs';

const R = { ...ALERT_RULES, refreshSeconds: 1000 }; // no timed refreshes unless a test wants them
const CAR = 'CAR-001';
const inside = { lat: 40.75, lon: -73.99 };
let n = 0;
const tel = (ts, f = {}) => ({ kind: 'telemetry', eventId: `t${n++}`, ts, ...inside, battery: 80, velocity: 10, stationId: undefined, charging: false, energyKwh: undefined, pluggedInAt: undefined, late: false, ...f });
const off = (ts, lastSeen, id = `off${ts}`) => ({ kind: 'presence', eventId: id, ts, online: false, lastSeen });
const on = (ts, id = `on${ts}`) => ({ kind: 'presence', eventId: id, ts, online: true });
const ids = (r) => r.events.map((e) => `${e.transition} ${e.rule} ${e.severity} ${e.at}`);

test('battery_low: warning below 20, critical below 15 at once, back to warning at 16, cleared at 21 (hysteresis)', () => {
  const r = expectCar(CAR, [25, 19.5, 14.9, 15.5, 16, 20.5, 21].map((b, i) => tel(1000 * (i + 1), { battery: b })), R);
  assert.equal(ids(r), [
    'raised battery_low warning 2000',
    'refreshed battery_low critical 3000',
    'refreshed battery_low warning 5000',
    'cleared battery_low warning 7000',
  ]);
  assert.equal(r.events[0].eventId, `${CAR}.battery_low.2000:raised`);
  assert.equal(r.events[1].eventId, `${CAR}.battery_low.2000:refreshed:3000`);
  assert.equal(r.events[3].eventId, `${CAR}.battery_low.2000:cleared`);
  assert.equal(r.active, {});
});

test('refreshes: at most one per ALERT_REFRESH_SECONDS of event time, counted from the last one sent', () => {
  const rules = { ...ALERT_RULES, refreshSeconds: 5 };
  const r = expectCar(CAR, [0, 2, 4, 5, 6, 9, 10, 11].map((s) => tel(10_000 + s * 1000, { battery: 10 })), rules);
  assert.equal(ids(r), ['raised battery_low critical 10000', 'refreshed battery_low critical 15000', 'refreshed battery_low critical 20000']);
  assert.equal(r.active, { battery_low: `${CAR}.battery_low.10000` });
});

test('overspeed: one noisy sample raises nothing; held for the hold time raises; a sample at the limit clears', () => {
  const v = (ts, velocity) => tel(ts, { velocity });
  const limit = R.overspeedKmh;
  const r = expectCar(CAR, [v(1000, limit + 10), v(1200, 20), v(2000, limit + 1), v(3000, limit + 5), v(3999, limit + 5), v(4000, limit + 2), v(4200, limit)], R);
  assert.equal(ids(r), ['raised overspeed warning 4000', 'cleared overspeed warning 4200']);
});

test('charging_stalled: meter not rising for the stall time in one stay; cleared when it rises; a new stay counts again', () => {
  const stallMs = R.stallMinutes * 60_000;
  const plugged = (ts, kwh, stay = 100) => tel(ts, { stationId: 'ST-1', charging: true, energyKwh: kwh, pluggedInAt: stay });
  const r = expectCar(CAR, [
    plugged(1000, 1), plugged(2000, 2), plugged(2000 + stallMs - 1, 2), plugged(2000 + stallMs, 2), plugged(3000 + stallMs, 2.5),
    plugged(4000 + stallMs, 2.5, 200), plugged(4000 + 2 * stallMs, 2.5, 200), tel(5000 + 2 * stallMs),
  ], R);
  assert.equal(ids(r), [
    `raised charging_stalled warning ${2000 + stallMs}`,
    `cleared charging_stalled warning ${3000 + stallMs}`,
    `raised charging_stalled warning ${4000 + 2 * stallMs}`,
    `cleared charging_stalled warning ${5000 + 2 * stallMs}`,
  ]);
  // Not charging (paused) is not a stall.
  assert.equal(expectCar(CAR, [1, 2, 3].map((s) => tel(s * stallMs, { stationId: 'ST-1', charging: false, energyKwh: 1, pluggedInAt: 1 })), R).events, []);
});

test('outside_service_area: beyond the margin raises, within it nothing, back inside clears; samples near the margin are counted as ambiguous', () => {
  const north = SERVICE_AREA.north;
  const deg = (m) => m / 111_195;
  assert.is(outsideMetres(SERVICE_AREA, north - 0.01, -73.99), 0);
  assert.ok(Math.abs(outsideMetres(SERVICE_AREA, north + deg(250), -73.99) - 250) < 1e-6);
  const at = (ts, m) => tel(ts, { lat: north + deg(m), lon: -73.99 });
  const r = expectCar(CAR, [at(1000, 50), at(2000, 250), at(3000, 180), at(4000, -500)], R);
  assert.equal(ids(r), ['raised outside_service_area warning 2000', 'cleared outside_service_area warning 4000']);
  assert.is(r.ambiguousArea, 0);
  const tol = areaTolerance(R.areaMarginM);
  assert.is(expectCar(CAR, [at(1000, R.areaMarginM + tol / 2), at(2000, R.areaMarginM - tol / 2), at(3000, R.areaMarginM + 2 * tol)], R).ambiguousArea, 2);
});

test('telemetry out of order: late, not newer (stale) and repeated (duplicate) samples change nothing', () => {
  const r = expectCar(CAR, [tel(1000, { battery: 50 }), tel(3000, { battery: 50 }), tel(2000, { battery: 10 }), tel(3000, { battery: 10 }), tel(4000, { battery: 10, late: true }), tel(5000, { battery: 50 })], R);
  assert.equal(r.events, []);
  assert.equal(r.skipped, { late: 1, stale: 1, duplicate: 1 });
  assert.equal(r.appliedTs, [1000, 3000, 5000]);
});

test('offline: raised by car_offline, cleared by car_online or telemetry newer than last_seen; an offline older than the newest telemetry raises nothing; one event id once', () => {
  assert.equal(ids(expectCar(CAR, [tel(1000), off(7000, 2000), tel(1500), tel(2500)], R)), ['raised offline warning 7000', 'cleared offline warning 2500']);
  assert.equal(ids(expectCar(CAR, [tel(1000), off(7000, 2000), off(7000, 2000), on(9000)], R)), ['raised offline warning 7000', 'cleared offline warning 9000']);
  // Telemetry newer than last_seen by more than the slack already applied: the car is taken to speak elsewhere, nothing raised.
  const ignored = expectCar(CAR, [tel(4500), { ...off(7000, 2000), reason: 'instance_lost' }], R);
  assert.equal([ignored.events, ignored.ignoredOffline], [[], [{ ts: 7000, reason: 'instance_lost', lastSeen: 2000, newestTelemetry: 4500 }]]);
  // Within the slack: what the killed instance acknowledged after its last report; the offline holds.
  assert.equal(ids(expectCar(CAR, [tel(3000), { ...off(7000, 2000), reason: 'instance_lost' }], R)), ['raised offline warning 7000']);
  // A presence event older than the newest applied is stale.
  const r = expectCar(CAR, [tel(1000), on(8000), off(7000, 2000)], R);
  assert.equal([r.events, r.skipped.stale], [[], 1]);
});

test('booking_no_show: an expiry raises unless plugged in at that station; plugging in anywhere clears; it clears by itself after the clear time', () => {
  const exp = (ts, station = 'ST-1', id = `exp${ts}`) => ({ kind: 'booking_expired', eventId: id, ts, stationId: station });
  const clearMs = R.noShowClearMinutes * 60_000;
  assert.equal(ids(expectCar(CAR, [tel(1000), exp(2000), tel(3000), tel(4000, { stationId: 'ST-9', charging: true, energyKwh: 0, pluggedInAt: 4000 })], R)), [
    'raised booking_no_show warning 2000', 'cleared booking_no_show warning 4000',
  ]);
  assert.equal(ids(expectCar(CAR, [tel(1000), exp(2000), tel(2000 + clearMs - 1), tel(2000 + clearMs)], R)), ['raised booking_no_show warning 2000', `cleared booking_no_show warning ${2000 + clearMs}`]);
  assert.equal(expectCar(CAR, [tel(1000, { stationId: 'ST-1', charging: true, energyKwh: 1, pluggedInAt: 1000 }), exp(2000)], R).events.filter((e) => e.rule === 'booking_no_show'), []);
  // The same expiry twice (a redelivery): once.
  assert.equal(ids(expectCar(CAR, [tel(1000), exp(2000, 'ST-1', 'x'), exp(2000, 'ST-1', 'x')], R)), ['raised booking_no_show warning 2000']);
});

test('inputOf: the handled types from fleet-events JSON, others ignored, broken ones flagged', () => {
  const t = inputOf({ event_type: 'telemetry', event_id: 'e', car_id: CAR, lat: 1, lon: 2, battery: 3, velocity: 4, timestamp: 5, station_id: 'S', charging: true, charge_energy_kwh: 0.5, plugged_in_at: 4, late: true });
  assert.equal([t.kind, t.stationId, t.charging, t.energyKwh, t.pluggedInAt, t.late], ['telemetry', 'S', true, 0.5, 4, true]);
  assert.equal(inputOf({ event_type: 'telemetry', event_id: 'e', car_id: CAR, lat: 1, lon: 2, battery: 3, velocity: 4, timestamp: 5 }).stationId, undefined);
  assert.equal(inputOf({ event_type: 'car_offline', event_id: 'p', car_id: CAR, timestamp: 9, last_seen: 7, reason: 'timeout' }), { kind: 'presence', carId: CAR, eventId: 'p', ts: 9, online: false, lastSeen: 7, reason: 'timeout' });
  assert.is(inputOf({ event_type: 'car_connected', event_id: 'c', car_id: CAR, timestamp: 1 }), undefined);
  assert.equal(inputOf({ event_type: 'telemetry', event_id: 'e', car_id: CAR, timestamp: 1 }), { malformed: 'telemetry' });
});

test('applyInput keeps one active alert per car and rule across inputs', () => {
  const car = newCarModel();
  const out = [];
  for (const b of [19, 18, 17]) applyInput(car, { ...tel(1000 * b, { battery: b }), carId: CAR }, R, SERVICE_AREA, out);
  assert.is(Object.keys(car.active).length, 1);
  assert.is(out.filter((e) => e.transition === 'raised').length, 1);
});

test('sequenceFaults: a raise while the car and rule have an active alert is a duplicate; a clear of another alert is an orphan', () => {
  const e = (transition, alertId, rule = 'overspeed') => ({ transition, alertId, carId: CAR, rule, eventId: `${alertId}:${transition}` });
  const ok = sequenceFaults([e('raised', 'a'), e('refreshed', 'a'), e('cleared', 'a'), e('raised', 'b'), e('raised', 'x', 'battery_low')]);
  assert.equal([ok.duplicatedRaises, ok.orphans, [...ok.activeAtEnd]], [[], [], ['b', 'x']]);
  const bad = sequenceFaults([e('raised', 'a'), e('raised', 'b'), e('cleared', 'a'), e('cleared', 'c')]);
  assert.is(bad.duplicatedRaises.length, 1);
  assert.is(bad.orphans.length, 2);
});

test('compareTransitions: missing, unexplained and severity differences, with rules of a car left out', () => {
  const ev = (id, transition, severity = 'warning', rule = 'battery_low', carId = CAR) => [id, { eventId: id, transition, severity, rule, carId }];
  const expected = new Map([ev('a:raised', 'raised'), ev('a:refreshed:5', 'refreshed', 'critical'), ev('a:cleared', 'cleared'), ev('z:raised', 'raised', 'warning', 'outside_service_area')]);
  const found = new Map([ev('a:raised', 'raised'), ev('a:refreshed:5', 'refreshed', 'warning'), ev('b:raised', 'raised'), ev('y:raised', 'raised', 'warning', 'outside_service_area')]);
  const d = compareTransitions(expected, found, new Set([`${CAR} outside_service_area`]));
  assert.equal(d.missing.cleared.map((e) => e.eventId), ['a:cleared']);
  assert.equal(d.unexplained.raised.map((e) => e.eventId), ['b:raised']);
  assert.equal(d.severity, [{ event: 'a:refreshed:5', expected: 'critical', found: 'warning' }]);
  assert.is(d.missing.raised.length, 0);
});

const detail = {
  killedInstance: 'ing-2', killAt: 100_000, exitedAt: 100_050, restartAt: 113_000, settings: { timeoutMs: 5000, flushMs: 1000, graceMs: 3000 },
  before: { S1: { state: 'online', instance: 'ing-2' }, M1: { state: 'online', instance: 'ing-2' }, M2: { state: 'online', instance: 'ing-2' }, U1: { state: 'online', instance: 'ing-1' }, X1: { state: 'online', instance: 'ing-1' } },
  during: { S1: { state: 'offline', reason: 'instance_lost' }, M1: { state: 'online', instance: 'ing-1' }, M2: { state: 'online', instance: 'ing-1' } },
};

test('classifyPresence: silenced offline in time, moved without a flap, late mover allowed one offline, excluded cars ignored', () => {
  const acksOf = new Map([['S1', [99_000, 114_000]], ['M1', [99_000, 101_200]], ['M2', [99_000, 104_500]], ['U1', [99_000, 101_000]]]);
  const presenceOf = new Map([
    ['S1', [{ type: 'car_offline', ts: 105_400, reason: 'instance_lost', heldBy: 'ing-2' }, { type: 'car_online', ts: 114_100, reason: 'reconnected' }]],
    ['M2', [{ type: 'car_offline', ts: 104_200, reason: 'instance_lost', heldBy: 'ing-2' }, { type: 'car_online', ts: 105_000, reason: 'reconnected' }]],
    ['X1', [{ type: 'car_offline', ts: 102_000, reason: 'timeout', heldBy: 'ing-1' }]],
  ]);
  const r = classifyPresence({ detail, acksOf, presenceOf, offlineAlertsOf: new Map([['S1', [105_400]]]), windowEnd: 130_000, exclude: new Set(['X1']) });
  assert.equal(r.faults, []);
  assert.equal([r.silenced.map((s) => s.car), r.moved.map((m) => m.car), r.movedLate.map((m) => [m.car, m.offline]), r.unaffected], [['S1'], ['M1'], [['M2', true]], 1]);
  assert.is(r.silenced[0].offlineAfterMs, 5400);
});

test('classifyPresence: late detection, a flapping mover, an unaffected car offline and a missing offline alert are each a fault', () => {
  const acksOf = new Map([['S1', [99_000]], ['M1', [99_000, 101_200]], ['M2', [99_000, 101_300]], ['U1', [99_000]]]);
  const presenceOf = new Map([
    ['S1', [{ type: 'car_offline', ts: 110_500, reason: 'timeout', heldBy: 'ing-2', lastSeen: 99_500, newestTelemetry: 99_900 }]],
    ['M1', [{ type: 'car_offline', ts: 104_000, reason: 'instance_lost', heldBy: 'ing-2' }]],
    ['U1', [{ type: 'car_offline', ts: 104_000, reason: 'timeout', heldBy: 'ing-1' }]],
  ]);
  const r = classifyPresence({ detail, acksOf, presenceOf, windowEnd: 130_000 });
  const what = r.faults.map((f) => `${f.car}: ${f.what}`);
  assert.ok(what.includes('S1: silenced, not offline within 2 × 5000 ms of the kill'), what.join('\n'));
  assert.ok(what.includes('M1: moved to the other instance in time, yet marked offline (flapped)'));
  assert.ok(what.includes('U1: went offline although its instance was not killed'));
  const noAlert = classifyPresence({ detail: { ...detail, before: { S1: detail.before.S1, M1: detail.before.M1 } }, acksOf, presenceOf: new Map([['S1', [{ type: 'car_offline', ts: 105_000, reason: 'instance_lost', heldBy: 'ing-2', lastSeen: 99_500, newestTelemetry: 99_900 }, { type: 'car_online', ts: 114_000 }]]]), windowEnd: 130_000 });
  assert.equal(noAlert.faults.map((f) => [f.car, f.what, f.newestTelemetry]), [['S1', 'silenced and offline, but no offline alert raised', 99_900]]);
});

test('presenceGaps: online and offline must alternate; a reconnect with no offline before it is a lost event, placed in its fault window', () => {
  const ev = (type, ts, reason) => ({ type, ts, reason });
  const presenceOf = new Map([
    ['A', [ev('car_online', 1, 'first_seen'), ev('car_offline', 5, 'timeout'), ev('car_online', 9, 'reconnected')]],
    ['B', [ev('car_online', 12, 'reconnected')]],
    ['C', [ev('car_online', 1, 'first_seen'), ev('car_online', 25, 'reconnected')]],
  ]);
  assert.equal(presenceGaps(presenceOf, [{ name: 'kafka-stop', at: 10 }, { name: 'redis-restart', at: 20 }]).map((g) => [g.car, g.what, g.window]), [
    ['B', 'car_online reconnected without a car_offline before it', 'kafka-stop'],
    ['C', 'car_online twice in a row', 'redis-restart'],
  ]);
});

test('the movers\' proxy: connections go to the backends in turn, and to the other when one is gone', async () => {
  const server = (name) => {
    const s = net.createServer((c) => c.end(name));
    return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
  };
  const [a, b] = await Promise.all([server('A'), server('B')]);
  const backends = [a, b].map((s) => ({ host: '127.0.0.1', port: s.address().port }));
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const proxy = startProxy(port, backends);
  await proxy.listening;
  const ask = () => new Promise((resolve) => {
    let text = '';
    const c = net.connect(port, '127.0.0.1');
    c.on('data', (d) => (text += d));
    c.on('close', () => resolve(text));
    c.on('error', () => resolve('error'));
  });
  assert.equal([await ask(), await ask(), await ask(), await ask()], ['A', 'B', 'A', 'B']);
  await new Promise((resolve) => b.close(resolve));
  assert.equal([await ask(), await ask(), await ask()], ['A', 'A', 'A']);
  await new Promise((resolve) => a.close(resolve));
  assert.is(await ask(), '');
  await proxy.close();
});

test.run();
