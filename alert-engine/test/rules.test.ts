/** The rules and the lifecycle, pure: events in, alert events out (no servers). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../src/config.js';
import { applyBatch, applyInput, type EngineSettings } from '../src/engine.js';
import { loadServiceArea } from '../src/rules/service-area.js';
import { newCarState, type AlertEvent, type CarState, type Input } from '../src/types.js';
import { expired, INSIDE, offline, online, OUTSIDE, T0, telemetry } from './helpers.js';

const settings = (env: Record<string, string> = {}): EngineSettings => {
  const config = loadConfig({ ALERT_REFRESH_SECONDS: '5', ALERT_STALL_MINUTES: '0.1', ALERT_NO_SHOW_CLEAR_MINUTES: '1', ...env });
  return { rules: config.rules, area: loadServiceArea(undefined) };
};
const S = settings();

/** Runs the events over one fresh car; returns "transition:severity@sec" for each alert event. */
function run(events: Input[], s = S, car: CarState = newCarState()): { out: string[]; alerts: AlertEvent[]; car: CarState } {
  const alerts: AlertEvent[] = [];
  for (const e of events) alerts.push(...applyInput(car, e, s).alerts);
  return { out: alerts.map((a) => `${a.rule}:${a.event_type.slice(6)}:${a.severity}@${(a.at - T0) / 1000}`), alerts, car };
}

const battery = suite('battery_low: one alert, severity escalating');
battery('raised below 20 (warning), refreshed at most every 5 s, escalated at once below 15, cleared at 21', () => {
  const levels: Array<[number, number]> = [[0, 30], [2, 19.5], [4, 19], [6, 18.9], [8, 18.5], [10, 14.9], [12, 15.5], [14, 16.5], [16, 20.5], [18, 21]];
  const { out } = run(levels.map(([sec, b]) => telemetry('B', sec, { battery: b })));
  assert.equal(out, [
    'battery_low:raised:warning@2',
    'battery_low:refreshed:warning@8',
    'battery_low:refreshed:critical@10',
    // 15.5 is inside the hysteresis band: still critical, and no refresh within 5 s.
    'battery_low:refreshed:warning@14',
    'battery_low:cleared:warning@18',
  ]);
});
battery('a battery critical from the first sample raises critical; the same alert id through refreshes and the clear', () => {
  const { alerts } = run([telemetry('B', 0, { battery: 10 }), telemetry('B', 6, { battery: 9 }), telemetry('B', 8, { battery: 60 })]);
  assert.equal(alerts.map((a) => [a.event_type, a.severity]), [['alert_raised', 'critical'], ['alert_refreshed', 'critical'], ['alert_cleared', 'critical']]);
  assert.equal(new Set(alerts.map((a) => a.alert_id)).size, 1);
  assert.is(alerts[0]!.alert_id, `B.battery_low.${T0}`);
  assert.equal(alerts[0]!.values, { battery: 10, low_pct: 20, critical_pct: 15 });
  assert.equal(alerts.map((a) => a.event_id), [`B.battery_low.${T0}:raised`, `B.battery_low.${T0}:refreshed:${T0 + 6000}`, `B.battery_low.${T0}:cleared`]);
});
battery.run();

const speed = suite('overspeed: held for 10 s by the car\'s clock');
speed('one noisy sample raises nothing; 10 s above the limit raises; refreshed; a sample at the limit clears', () => {
  const v: Array<[number, number]> = [[0, 50], [2, 140], [4, 60], [6, 101], [8, 120], [10, 130], [12, 110], [14, 105], [16, 104], [18, 120], [22, 120], [24, 100]];
  const { out, alerts } = run(v.map(([sec, velocity]) => telemetry('O', sec, { velocity })));
  assert.equal(out, ['overspeed:raised:warning@16', 'overspeed:refreshed:warning@22', 'overspeed:cleared:warning@24']);
  assert.equal(alerts[0]!.values, { velocity: 104, limit_kmh: 100, held_s: 10, since: T0 + 6000, max_kmh: 130 });
});
speed('thresholds come from ALERT_OVERSPEED_KMH and ALERT_OVERSPEED_SECONDS', () => {
  const s = settings({ ALERT_OVERSPEED_KMH: '60', ALERT_OVERSPEED_SECONDS: '4' });
  const { out } = run([telemetry('O', 0, { velocity: 61 }), telemetry('O', 2, { velocity: 70 }), telemetry('O', 4, { velocity: 65 })], s);
  assert.equal(out, ['overspeed:raised:warning@4']);
});
speed.run();

const off = suite('offline: from presence');
off('car_offline raises, a later car_offline refreshes, car_online clears', () => {
  const { out, alerts } = run([telemetry('F', 0), offline('F', 30, 0), offline('F', 40, 0), online('F', 50)]);
  assert.equal(out, ['offline:raised:warning@30', 'offline:refreshed:warning@40', 'offline:cleared:warning@50']);
  assert.equal(alerts[0]!.values, { instance: 'ing-1', reason: 'timeout', last_seen: T0 });
});
off('telemetry newer than last_seen clears it; older (or late) telemetry does not', () => {
  const { out } = run([telemetry('F', 0), offline('F', 30, 4), telemetry('F', 3), telemetry('F', 40, { late: true }), telemetry('F', 6)]);
  assert.equal(out, ['offline:raised:warning@30', 'offline:cleared:warning@6']);
});
off('an offline about a car that already sent newer telemetry raises nothing; an older presence event is ignored', () => {
  assert.equal(run([telemetry('F', 10), offline('F', 30, 5)]).out, []);
  assert.equal(run([telemetry('F', 0), online('F', 40), offline('F', 30, 0)]).out, []);
});
off('telemetry within ALERT_OFFLINE_SLACK_MS (2 s) of last_seen is the killed instance\'s last messages: the offline holds', () => {
  assert.equal(run([telemetry('F', 6), offline('F', 30, 5)]).out, ['offline:raised:warning@30']);
  assert.equal(run([telemetry('F', 6), offline('F', 30, 5)], settings({ ALERT_OFFLINE_SLACK_MS: '0' })).out, []);
});
off.run();

const stall = suite('charging_stalled: meter not rising for ALERT_STALL_MINUTES (0.1 = 6 s here)');
const plugged = (sec: number, meter: number, extra: Record<string, unknown> = {}) => telemetry('C', sec, { stationId: 'ST-9', charging: true, energyKwh: meter, pluggedInAt: T0, ...extra });
stall('raised after 6 s without a rise, refreshed, cleared when the meter rises', () => {
  const { out, alerts } = run([plugged(0, 1), plugged(2, 1.5), plugged(4, 1.5), plugged(6, 1.5), plugged(8, 1.5), plugged(12, 1.5), plugged(14, 1.5), plugged(16, 1.6)]);
  assert.equal(out, ['charging_stalled:raised:warning@8', 'charging_stalled:refreshed:warning@14', 'charging_stalled:cleared:warning@16']);
  assert.equal(alerts[0]!.values, { station_id: 'ST-9', meter_kwh: 1.5, stalled_s: 6, since: T0 + 2000 });
});
stall('not charging (a full battery), unplugging or a new stay clears it; a rising meter never raises', () => {
  assert.equal(run([plugged(0, 1), plugged(8, 1), plugged(10, 1, { charging: false })]).out, ['charging_stalled:raised:warning@8', 'charging_stalled:cleared:warning@10']);
  assert.equal(run([plugged(0, 1), plugged(8, 1), telemetry('C', 10)]).out, ['charging_stalled:raised:warning@8', 'charging_stalled:cleared:warning@10']);
  assert.equal(run([plugged(0, 1), plugged(8, 1), plugged(10, 0, { pluggedInAt: T0 + 9000 })]).out, ['charging_stalled:raised:warning@8', 'charging_stalled:cleared:warning@10']);
  assert.equal(run([0, 2, 4, 6, 8, 10, 12].map((sec) => plugged(sec, sec / 10))).out, []);
});
stall.run();

const area = suite('outside_service_area: the Manhattan outline, 150 m margin');
area('raised outside (Jersey City), refreshed, cleared back inside', () => {
  const { out, alerts } = run([telemetry('A', 0), telemetry('A', 2, OUTSIDE), telemetry('A', 8, OUTSIDE), telemetry('A', 10, INSIDE)]);
  assert.equal(out, ['outside_service_area:raised:warning@2', 'outside_service_area:refreshed:warning@8', 'outside_service_area:cleared:warning@10']);
  assert.ok((alerts[0]!.values.outside_m as number) > 2000, JSON.stringify(alerts[0]!.values));
});
area('within the margin of the shore counts inside; beyond it, outside', () => {
  // The outline's first vertex (the Battery), moved ~100 m and ~1 km south-west into the harbour.
  assert.equal(run([telemetry('A', 0, { lat: 40.70695 - 0.0007, lon: -74.01913 - 0.0007 })]).out, []);
  assert.equal(run([telemetry('A', 0, { lat: 40.70695 - 0.007, lon: -74.01913 - 0.007 })]).out, ['outside_service_area:raised:warning@0']);
});
area.run();

const noshow = suite('booking_no_show');
noshow('booking_expired raises, a second expiry refreshes, plugging in clears', () => {
  const { out, alerts } = run([telemetry('N', 0), expired('N', 10, 'BK-1'), expired('N', 20, 'BK-2'), telemetry('N', 22), telemetry('N', 24, { stationId: 'ST-4' })]);
  assert.equal(out, ['booking_no_show:raised:warning@10', 'booking_no_show:refreshed:warning@20', 'booking_no_show:cleared:warning@24']);
  assert.equal(alerts[0]!.values, { booking_id: 'BK-1', station_id: 'ST-1', expired_at: T0 + 10_000 });
});
noshow('cleared by itself after ALERT_NO_SHOW_CLEAR_MINUTES (1 here) of car time; no alert when the car is plugged in at that station', () => {
  assert.equal(run([telemetry('N', 0), expired('N', 10, 'BK-1'), telemetry('N', 60), telemetry('N', 70)]).out, ['booking_no_show:raised:warning@10', 'booking_no_show:cleared:warning@70']);
  assert.equal(run([telemetry('N', 0, { stationId: 'ST-1' }), expired('N', 10, 'BK-1')]).out, []);
});
noshow.run();

const order = suite('ordering, late events, duplicates, replays');
order('a late event (older state) raises nothing and clears nothing', () => {
  const { out } = run([telemetry('L', 10, { battery: 50 }), telemetry('L', 2, { battery: 5, late: true }), telemetry('L', 12, { battery: 10 }), telemetry('L', 4, { battery: 90, late: true }), telemetry('L', 14, { battery: 10 })]);
  assert.equal(out, ['battery_low:raised:critical@12']);
});
order('an out-of-order event not marked late is ignored the same way; a duplicate (same timestamp) too', () => {
  const { out } = run([telemetry('L', 10, { battery: 50 }), telemetry('L', 2, { battery: 5 }), telemetry('L', 10, { battery: 5 })]);
  assert.equal(out, []);
});
order('replaying every event over the resulting state changes nothing', () => {
  const events: Input[] = [
    telemetry('R', 0, { battery: 18, velocity: 120 }), telemetry('R', 6, { velocity: 120, ...OUTSIDE }), telemetry('R', 12, { velocity: 130, battery: 12, ...OUTSIDE }),
    offline('R', 20, 12), expired('R', 21, 'BK-9'), online('R', 22), telemetry('R', 24, { battery: 50 }),
  ];
  const states = new Map<string, CarState>();
  const first = applyBatch(states, events, S);
  assert.ok(first.alerts.length >= 8, `${first.alerts.length} alert events`);
  const before = JSON.stringify(states.get('R'));
  const again = applyBatch(states, events, S);
  assert.equal(again.alerts, []);
  // Telemetry older than the newest applied is stale, the newest itself and the ids seen are duplicates.
  assert.equal(again.skipped, { late: 0, stale: 3, duplicate: 4 });
  assert.is(JSON.stringify(states.get('R')), before);
});
order('a car\'s state survives a JSON round trip (how Redis keeps it) with the same outcome', () => {
  const head = [telemetry('J', 0, { velocity: 120 }), telemetry('J', 6, { velocity: 120 })];
  const tail = [telemetry('J', 10, { velocity: 120 }), telemetry('J', 12, { velocity: 20 })];
  const direct = run([...head, ...tail]).out;
  const { car } = run(head);
  const resumed = run(tail, S, JSON.parse(JSON.stringify(car)) as CarState).out;
  assert.equal(resumed, direct);
  assert.equal(direct, ['overspeed:raised:warning@10', 'overspeed:cleared:warning@12']);
});
order.run();
