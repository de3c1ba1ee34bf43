/**
 * Alerts (fleet-alerts) and presence (car_online / car_offline, car_connected / car_disconnected)
 * in the tail: reading, lines and colours, filters, the counts of the status line, never sampled
 * out; unknown or malformed events never crash and never print.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseEvent, unreadKind, type AlertView, type EventView, type PresenceView } from '../src/event.js';
import { alertLine, presenceLine, valueWords } from '../src/render-alerts.js';
import { eventLine, statusLine } from '../src/render.js';
import { matches, NO_FILTER, type EventFilter } from '../src/filter.js';
import { AlertTracker } from '../src/alert-tracker.js';
import { LiveTail, type TailOptions } from '../src/tail.js';
import { parseOptions } from '../src/options.js';

// 2023-12-02T20:15:32Z
const T = Date.UTC(2023, 11, 2, 20, 15, 32);
const PLAIN = { color: false, utc: true };
const COLOR = { color: true, utc: true };

const alertJson = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    event_type: 'alert_raised',
    alert_id: `CAR-003.battery_critical.${T}`,
    car_id: 'CAR-003',
    rule: 'battery_critical',
    severity: 'critical',
    at: T,
    raised_at: T,
    values: { battery: 12.1, low_pct: 20, critical_pct: 15 },
    event_id: `CAR-003.battery_critical.${T}:raised`,
    ...over,
  });
const presenceJson = (type: string, over: Record<string, unknown> = {}) =>
  JSON.stringify({ event_type: type, event_id: `${type}:CAR-042:${T}`, car_id: 'CAR-042', timestamp: T, instance: 'ingestion-a', ...over });
const telemetryJson = (car: string, battery: number) =>
  JSON.stringify({ car_id: car, lat: 40.75, lon: -73.98, battery, velocity: 10, timestamp: T, event_type: 'telemetry' });

const alert = (over: Partial<AlertView> = {}): AlertView => ({ ...(parseEvent(alertJson()) as AlertView), ...over });
const presence = (type: PresenceView['type'], over: Record<string, unknown> = {}): PresenceView => parseEvent(presenceJson(type, over)) as PresenceView;

const reading = suite('reading alerts and presence');

reading('an alert event: its fields, values kept only when plain', () => {
  const view = parseEvent(alertJson({ values: { battery: 12.1, nested: { a: 1 }, list: [1], ok: true, none: null, name: 'x' } }));
  assert.equal(view, {
    kind: 'alert',
    carId: 'CAR-003',
    alertId: `CAR-003.battery_critical.${T}`,
    action: 'raised',
    rule: 'battery_critical',
    severity: 'critical',
    timestamp: T,
    values: { battery: 12.1, ok: true, none: null, name: 'x' },
  });
  for (const [type, action] of [['alert_refreshed', 'refreshed'], ['alert_cleared', 'cleared'], ['alert_acknowledged', 'acknowledged']]) {
    assert.is((parseEvent(alertJson({ event_type: type })) as AlertView).action, action);
  }
  assert.is((parseEvent(alertJson({ event_type: 'alert_acknowledged', operator: 'ops-1' })) as AlertView).operator, 'ops-1');
});

reading('presence and connectivity events', () => {
  assert.equal(parseEvent(presenceJson('car_offline', { reason: 'timeout', last_seen: T - 32_000, held_by: 'ingestion-a' })), {
    kind: 'presence', type: 'car_offline', carId: 'CAR-042', timestamp: T, reason: 'timeout', instance: 'ingestion-a', lastSeen: T - 32_000, heldBy: 'ingestion-a',
  });
  assert.equal(parseEvent(presenceJson('car_online', { reason: 'first_seen' })), { kind: 'presence', type: 'car_online', carId: 'CAR-042', timestamp: T, reason: 'first_seen', instance: 'ingestion-a' });
  const connected = parseEvent(presenceJson('car_connected', { peer: 'ipv4:127.0.0.1:50123' })) as PresenceView;
  assert.is(connected.peer, 'ipv4:127.0.0.1:50123');
  // last_seen null (the ingestion did not know it): left out.
  assert.is((parseEvent(presenceJson('car_offline', { reason: 'instance_lost', last_seen: null })) as PresenceView).lastSeen, undefined);
});

reading('malformed alerts and presence are not events; unknown types are told apart from garbage', () => {
  for (const bad of [
    alertJson({ severity: 'urgent' }),
    alertJson({ severity: undefined }),
    alertJson({ car_id: 7 }),
    alertJson({ alert_id: '' }),
    alertJson({ rule: null }),
    alertJson({ at: 'yesterday' }),
    presenceJson('car_offline', { timestamp: undefined }),
    presenceJson('car_online', { car_id: '' }),
  ]) {
    assert.is(parseEvent(bad), undefined, bad);
    assert.is(unreadKind(bad), 'unreadable', bad);
  }
  for (const other of ['alert_escalated', 'car_teleported', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const value = JSON.stringify({ event_type: other, car_id: 'CAR-001', timestamp: T, at: T, alert_id: 'a', rule: 'r', severity: 'info' });
    assert.is(parseEvent(value), undefined, other);
    assert.is(unreadKind(value), 'other-type', other);
  }
  for (const garbage of ['garbage', '{', 'null', '42', '[]', '"alert_raised"']) assert.is(unreadKind(garbage), 'unreadable', garbage);
});

reading('control characters never reach the terminal', () => {
  const view = parseEvent(alertJson({ car_id: 'CAR-\x1b[31m9', rule: 'over\nspeed', values: { reason: 'a\x07b\x1b]0;title\x07' } })) as AlertView;
  const line = alertLine(view, PLAIN);
  assert.not.match(line, /[\x00-\x1f\x7f-\x9f]/);
  assert.match(line, 'CAR-[31m9');
  assert.match(line, '| overspeed |');
  const p = parseEvent(presenceJson('car_offline', { reason: 'time\rout', held_by: '\x1b[2Jx' })) as PresenceView;
  assert.not.match(presenceLine(p, PLAIN), /[\x00-\x1f\x7f-\x9f]/);
});

const lines = suite('alert and presence lines');

lines('alert lines, plain', () => {
  assert.is(alertLine(alert(), PLAIN), '[20:15:32] 🚨 CAR-003    | ALERT RAISED       | battery_critical | CRITICAL | battery 12.1%');
  const overspeed = parseEvent(
    alertJson({ car_id: 'CAR-017', rule: 'overspeed', severity: 'warning', values: { velocity: 112.44, limit_kmh: 100, held_s: 12, since: T - 12_000, max_kmh: 118.2 } }),
  ) as AlertView;
  assert.is(alertLine(overspeed, PLAIN), '[20:15:32] 🔶 CAR-017    | ALERT RAISED       | overspeed | WARNING | 112.4 km/h, limit 100 km/h, held 12.00 s, max 118.2 km/h');
  assert.is(
    alertLine({ ...overspeed, action: 'cleared', values: { velocity: 54, limit_kmh: 100, max_kmh: 118.2 } }, PLAIN),
    '[20:15:32] ✅ CAR-017    | ALERT CLEARED      | overspeed | WARNING | 54.0 km/h, limit 100 km/h, max 118.2 km/h',
  );
  assert.is(
    alertLine({ ...overspeed, action: 'acknowledged', values: {}, operator: 'ops-1' }, PLAIN),
    '[20:15:32] 👤 CAR-017    | ALERT ACKNOWLEDGED | overspeed | WARNING | by ops-1',
  );
  const stalled = parseEvent(alertJson({ rule: 'charging_stalled', severity: 'warning', values: { station_id: 'ST-017', meter_kwh: 3.2, stalled_s: 301, since: T } })) as AlertView;
  assert.match(alertLine(stalled, PLAIN), '| charging_stalled | WARNING | station ST-017, meter 3.20 kWh, stalled 5.0 min');
  const info = parseEvent(alertJson({ rule: 'booking_no_show', severity: 'info', values: { booking_id: 'b-1', expired_at: T } })) as AlertView;
  assert.is(alertLine(info, PLAIN), '[20:15:32] 🔷 CAR-003    | ALERT RAISED       | booking_no_show | INFO | booking_id b-1');
});

lines('values in words: known ones, unknown ones as key value, instants left out, bounded', () => {
  assert.is(valueWords({ battery: 12.06, low_pct: 20, critical_pct: 15 }), 'battery 12.1%');
  assert.is(valueWords({ distance_m: 312.456, inside: false, raised_at: T }), 'distance_m 312.46, inside false');
  assert.is(valueWords({ reason: 'timeout', instance: 'ingestion-a', last_seen: T }), 'timeout, on ingestion-a');
  const long = valueWords(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`key${i}`, 'x'.repeat(20)])));
  assert.is(long.length, 100);
  assert.ok(long.endsWith('…'));
});

lines('alert colours: critical red, warning yellow, info cyan, cleared dim', () => {
  assert.match(alertLine(alert(), COLOR), '\x1b[31m\x1b[1mALERT RAISED');
  assert.match(alertLine(alert({ severity: 'warning' }), COLOR), '\x1b[33mALERT RAISED');
  assert.match(alertLine(alert({ severity: 'info' }), COLOR), '\x1b[36mALERT RAISED');
  const cleared = alertLine(alert({ action: 'cleared' }), COLOR);
  assert.match(cleared, '\x1b[2mALERT CLEARED');
  assert.not.match(cleared, '\x1b[31m', 'a cleared critical alert is dim, not red');
  assert.match(alertLine(alert({ action: 'acknowledged' }), COLOR), '\x1b[36mALERT ACKNOWLEDGED');
});

lines('presence lines: online green, offline red or yellow, connectivity dim', () => {
  const offline = presence('car_offline', { reason: 'timeout', last_seen: T - 32_000, held_by: 'ingestion-a' });
  assert.is(presenceLine(offline, PLAIN), '[20:15:32] 📴 CAR-042    | OFFLINE | timeout | last seen 20:15:00 (32.00 s before) | held by ingestion-a');
  assert.is(presenceLine(presence('car_online', { reason: 'reconnected' }), PLAIN), '[20:15:32] 📶 CAR-042    | ONLINE  | reconnected | ingestion-a');
  assert.is(
    presenceLine(presence('car_disconnected', { reason: 'car_closed', peer: 'ipv4:127.0.0.1:50123' }), PLAIN),
    '[20:15:32] 🔗 CAR-042    | DISCONNECTED | car_closed | ingestion-a | ipv4:127.0.0.1:50123',
  );
  assert.is(presenceLine(presence('car_connected', { peer: 'ipv4:127.0.0.1:50123' }), PLAIN), '[20:15:32] 🔗 CAR-042    | CONNECTED    | ingestion-a | ipv4:127.0.0.1:50123');
  assert.match(presenceLine(presence('car_online', { reason: 'first_seen' }), COLOR), '\x1b[32m\x1b[1mONLINE');
  assert.match(presenceLine(offline, COLOR), '\x1b[31m\x1b[1mOFFLINE');
  assert.match(presenceLine(presence('car_offline', { reason: 'instance_lost' }), COLOR), '\x1b[31m\x1b[1mOFFLINE');
  assert.match(presenceLine(presence('car_offline', { reason: 'stream_closed' }), COLOR), '\x1b[33m\x1b[1mOFFLINE');
  assert.match(presenceLine(presence('car_connected'), COLOR), '\x1b[2mCONNECTED');
  // eventLine dispatches to them.
  assert.is(eventLine(offline, PLAIN), presenceLine(offline, PLAIN));
  assert.is(eventLine(alert(), PLAIN), alertLine(alert(), PLAIN));
});

lines('status line: active alerts and cars offline', () => {
  const base = { eventsPerSec: 10, carsSeen: 3, alerts: 2, uptimeMs: 61_000, shownPerSec: 10, sampledPerSec: 0 };
  assert.is(statusLine(base, false), '── 10 events/s │ 3 cars │ 2 alerts │ up 00:01:01');
  assert.is(statusLine({ ...base, carsOffline: 1 }, false), '── 10 events/s │ 3 cars │ 2 alerts │ 1 offline │ up 00:01:01');
  assert.match(statusLine({ ...base, carsOffline: 1 }, true), '\x1b[33m1 offline');
  assert.match(statusLine({ ...base, alerts: 0, carsOffline: 0 }, true), '\x1b[2m0 alerts\x1b[0m');
});

const filtering = suite('filters on alerts and presence');
const f = (over: Partial<EventFilter>): EventFilter => ({ ...NO_FILTER, ...over });
const tele = (carId: string, battery: number): EventView => ({ kind: 'telemetry', carId, lat: 40.75, lon: -73.98, battery, velocity: 10, timestamp: T });

filtering('--alerts-only: every alert event, presence changes and critical batteries; nothing else', () => {
  const only = f({ alertsOnly: true });
  for (const action of ['raised', 'refreshed', 'cleared', 'acknowledged'] as const) assert.ok(matches(alert({ action, severity: 'info' }), only), action);
  assert.ok(matches(presence('car_online'), only));
  assert.ok(matches(presence('car_offline'), only));
  assert.ok(matches(tele('CAR-1', 14.9), only));
  assert.not.ok(matches(tele('CAR-1', 15), only));
  assert.not.ok(matches({ kind: 'booking_confirmed', carId: 'CAR-1', bookingId: 'b', stationId: 'S', priceRate: 0.3, timestamp: T }, only));
  assert.not.ok(matches({ kind: 'command', carId: 'CAR-1', commandId: 'c', command: 'RESUME', status: 'SENT', timestamp: T }, only));
});

filtering('connectivity only with --connections (alone or with --alerts-only)', () => {
  assert.not.ok(matches(presence('car_connected'), NO_FILTER));
  assert.not.ok(matches(presence('car_disconnected'), f({ alertsOnly: true })));
  assert.ok(matches(presence('car_connected'), f({ connections: true })));
  assert.ok(matches(presence('car_disconnected'), f({ connections: true, alertsOnly: true })));
  assert.ok(matches(presence('car_online'), NO_FILTER), 'presence changes need no flag');
});

filtering('the car filter applies; --bookings-only and --battery-below leave them out', () => {
  assert.ok(matches(alert(), f({ cars: new Set(['CAR-003']) })));
  assert.not.ok(matches(alert(), f({ cars: new Set(['CAR-004']) })));
  assert.not.ok(matches(presence('car_offline'), f({ cars: new Set(['CAR-003']), alertsOnly: true })));
  assert.not.ok(matches(alert(), f({ bookingsOnly: true })));
  assert.not.ok(matches(presence('car_offline'), f({ bookingsOnly: true })));
  assert.not.ok(matches(alert(), f({ batteryBelow: 50 })));
});

filtering('options: --connections and FLEET_ALERTS_TOPIC', () => {
  assert.is(parseOptions({ connections: true }, {}).filter.connections, true);
  assert.is(parseOptions({}, {}).filter.connections, false);
  assert.is(parseOptions({}, {}).alertsTopic, 'fleet-alerts');
  assert.is(parseOptions({}, { FLEET_ALERTS_TOPIC: 'alerts-x' }).alertsTopic, 'alerts-x');
});

const counting = suite('active alerts and cars offline');

counting('active = raised − cleared per alert id; repeats and refreshes change nothing', () => {
  const t = new AlertTracker();
  t.seeAlert(alert({ alertId: 'a1' }));
  t.seeAlert(alert({ alertId: 'a1' }));
  t.seeAlert(alert({ alertId: 'a2' }));
  t.seeAlert(alert({ alertId: 'a2', action: 'refreshed' }));
  t.seeAlert(alert({ alertId: 'a2', action: 'acknowledged' }));
  assert.is(t.activeAlerts, 2);
  t.seeAlert(alert({ alertId: 'a1', action: 'cleared' }));
  t.seeAlert(alert({ alertId: 'a1', action: 'cleared' }));
  // Cleared before this tail saw it raised: nothing to take away.
  t.seeAlert(alert({ alertId: 'a0', action: 'cleared' }));
  assert.is(t.activeAlerts, 1);
  assert.equal(t.seen, { raised: 3, refreshed: 1, cleared: 3, acknowledged: 1 });
});

counting('cars offline: the last presence change of each car', () => {
  const t = new AlertTracker();
  t.seePresence(presence('car_offline', { car_id: 'CAR-1' }));
  t.seePresence(presence('car_offline', { car_id: 'CAR-2' }));
  t.seePresence(presence('car_offline', { car_id: 'CAR-2' }));
  t.seePresence(presence('car_disconnected', { car_id: 'CAR-3' }));
  assert.is(t.carsOffline, 2);
  t.seePresence(presence('car_online', { car_id: 'CAR-1' }));
  t.seePresence(presence('car_connected', { car_id: 'CAR-2' }));
  assert.is(t.carsOffline, 1);
  assert.is(t.presenceChanges, 4, 'connectivity events are not presence changes');
});

counting('bounded: past its capacity the oldest is forgotten', () => {
  const t = new AlertTracker(3);
  for (let i = 0; i < 5; i++) t.seeAlert(alert({ alertId: `a${i}` }));
  assert.is(t.activeAlerts, 3);
  t.seeAlert(alert({ alertId: 'a0', action: 'cleared' }));
  assert.is(t.activeAlerts, 3, 'a0 was forgotten already');
  t.seeAlert(alert({ alertId: 'a4', action: 'cleared' }));
  assert.is(t.activeAlerts, 2);
});

const pipeline = suite('alerts and presence through the tail');

class FakeOut {
  chunks: string[] = [];
  writableNeedDrain = false;
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

const options = (over: Partial<TailOptions> = {}): TailOptions => ({ filter: NO_FILTER, render: PLAIN, json: false, maxLinesPerSec: 5, tty: false, ...over });

pipeline('in a flood every alert and presence change is shown; connectivity is sampled like telemetry', () => {
  const out = new FakeOut();
  const tail = new LiveTail(options({ filter: f({ connections: true }) }), out, 0);
  for (let i = 0; i < 5_000; i++) {
    tail.handle(telemetryJson(`CAR-${i % 100}`, 60), 0);
    tail.handle(presenceJson('car_connected', { car_id: `CAR-${i % 100}` }), 0);
    if (i % 500 === 0) {
      tail.handle(alertJson({ alert_id: `a${i}`, car_id: `CAR-A${i}` }), 0);
      tail.handle(presenceJson('car_offline', { car_id: `CAR-P${i}`, reason: 'timeout' }), 0);
    }
  }
  tail.tick(1000);
  const text = out.text.split('\n');
  assert.is(text.filter((l) => l.includes('ALERT RAISED')).length, 10);
  assert.is(text.filter((l) => l.includes('| OFFLINE |')).length, 10);
  assert.ok(text.filter((l) => l.includes('CONNECTED')).length <= 5, 'connectivity lines are sampled');
  assert.match(out.text, 'every alert is shown');
});

pipeline('the status line counts active alerts and cars offline; the summary says how alerts went', () => {
  const out = new FakeOut();
  const tail = new LiveTail(options({ tty: true }), out, 0);
  tail.handle(telemetryJson('CAR-1', 60), 0);
  tail.tick(1000);
  assert.match(out.text, '1 cars │ 0 alerts │ up', 'no offline count before the first presence change');
  tail.handle(alertJson({ alert_id: 'a1' }), 1000);
  tail.handle(alertJson({ alert_id: 'a2' }), 1000);
  tail.handle(alertJson({ alert_id: 'a1', event_type: 'alert_cleared' }), 1000);
  tail.handle(presenceJson('car_offline', { car_id: 'CAR-7', reason: 'stream_closed' }), 1000);
  tail.handle(presenceJson('car_offline', { car_id: 'CAR-8', reason: 'timeout' }), 1000);
  tail.handle(presenceJson('car_online', { car_id: 'CAR-7', reason: 'reconnected' }), 1000);
  tail.tick(2000);
  assert.match(out.text, '│ 1 alerts │ 1 offline │ up 00:00:02');
  tail.close();
  const summary = tail.summary(2000);
  assert.match(summary, 'alerts: 2 raised, 0 refreshed, 1 cleared, 0 acknowledged; 1 active');
  assert.match(summary, 'presence: 1 online, 2 offline changes; 1 cars offline');
});

pipeline('unknown event types and malformed alerts: counted, never shown, never fatal', () => {
  const out = new FakeOut();
  const tail = new LiveTail(options(), out, 0);
  const values = [
    JSON.stringify({ event_type: 'car_teleported', car_id: 'CAR-1', timestamp: T }),
    JSON.stringify({ event_type: '__proto__', car_id: 'CAR-1', timestamp: T }),
    JSON.stringify({ event_type: 'alert_raised', car_id: 'CAR-1' }),
    JSON.stringify({ event_type: 'car_offline' }),
    JSON.stringify({ event_type: 'alert_raised', car_id: 'CAR-1', alert_id: 'x', rule: 'r', severity: 'info', at: T, values: 'not an object' }),
    '{"event_type":',
    'null',
  ];
  for (const v of values) assert.ok(tail.handle(v, 0));
  tail.flush();
  assert.is(tail.stats.otherTypes, 2);
  assert.is(tail.stats.malformed, 4);
  // The one with values that are not an object is still a readable alert, shown without values.
  assert.is(out.text, '[20:15:32] 🔷 CAR-1      | ALERT RAISED       | r | INFO\n');
  assert.match(tail.summary(1000), '4 unreadable events skipped; 2 events of other types skipped');
});

pipeline('--alerts-only with a car filter, end to end through the tail', () => {
  const out = new FakeOut();
  const tail = new LiveTail(options({ filter: f({ alertsOnly: true, cars: new Set(['CAR-042']) }) }), out, 0);
  tail.handle(telemetryJson('CAR-042', 60), 0);
  tail.handle(alertJson({ car_id: 'CAR-042', alert_id: 'x1', rule: 'overspeed', severity: 'warning', values: { velocity: 110 } }), 0);
  tail.handle(alertJson({ car_id: 'CAR-043', alert_id: 'x2' }), 0);
  tail.handle(presenceJson('car_offline', { reason: 'timeout' }), 0);
  tail.handle(presenceJson('car_connected'), 0);
  tail.flush();
  assert.equal(out.text.trim().split('\n'), [
    '[20:15:32] 🔶 CAR-042    | ALERT RAISED       | overspeed | WARNING | 110.0 km/h',
    '[20:15:32] 📴 CAR-042    | OFFLINE | timeout',
  ]);
  // Counted whatever the filter: the status line is the fleet's.
  assert.is(tail.stats.alerts.activeAlerts, 2);
});

reading.run();
lines.run();
filtering.run();
counting.run();
pipeline.run();
