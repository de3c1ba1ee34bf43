import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { matches, NO_FILTER, type EventFilter } from '../src/filter.js';
import type { EventView } from '../src/event.js';
import { LineSampler } from '../src/sampler.js';
import { LiveTail, type TailOptions } from '../src/tail.js';
import { parseOptions } from '../src/options.js';
import { ConfigError } from '@greenlane/common';

const T = Date.UTC(2023, 11, 2, 20, 15, 32);
const tele = (carId: string, battery: number): EventView => ({ kind: 'telemetry', carId, lat: 40.75, lon: -73.98, battery, velocity: 10, timestamp: T });
const booking: EventView = { kind: 'booking_confirmed', carId: 'CAR-002', bookingId: 'b', stationId: 'ST-1', priceRate: 0.3, timestamp: T };
const json = (carId: string, battery: number) =>
  JSON.stringify({ car_id: carId, lat: 40.75, lon: -73.98, battery, velocity: 10, timestamp: T, event_type: 'telemetry' });

const filters = suite('filters');
const f = (over: Partial<EventFilter>): EventFilter => ({ ...NO_FILTER, ...over });

filters('no filter: everything', () => {
  assert.ok(matches(tele('CAR-001', 80), NO_FILTER));
  assert.ok(matches(booking, NO_FILTER));
});

filters('car ids', () => {
  const only = f({ cars: new Set(['CAR-001', 'CAR-009']) });
  assert.ok(matches(tele('CAR-001', 80), only));
  assert.not.ok(matches(tele('CAR-002', 80), only));
  assert.not.ok(matches(booking, only));
});

filters('battery below a threshold', () => {
  const low = f({ batteryBelow: 30 });
  assert.ok(matches(tele('CAR-001', 29.9), low));
  assert.not.ok(matches(tele('CAR-001', 30), low));
  assert.not.ok(matches(booking, low), 'a booking without a battery level');
  assert.ok(matches({ ...booking, battery: 10 } as EventView, low));
});

filters('alerts only, bookings only, and combined with AND', () => {
  assert.ok(matches(tele('CAR-001', 14.9), f({ alertsOnly: true })));
  assert.not.ok(matches(tele('CAR-001', 15), f({ alertsOnly: true })));
  assert.not.ok(matches(booking, f({ alertsOnly: true })));
  assert.ok(matches(booking, f({ bookingsOnly: true })));
  assert.not.ok(matches(tele('CAR-001', 5), f({ bookingsOnly: true })));
  assert.not.ok(matches(tele('CAR-002', 5), f({ alertsOnly: true, cars: new Set(['CAR-001']) })));
});

filters('options: flags into filters; bad values name the flag', () => {
  const o = parseOptions({ car: 'CAR-001, CAR-002', 'battery-below': '25', 'alerts-only': true, 'from-beginning': true }, {});
  assert.equal([...o.filter.cars], ['CAR-001', 'CAR-002']);
  assert.is(o.filter.batteryBelow, 25);
  assert.is(o.filter.alertsOnly, true);
  assert.is(o.fromBeginning, true);
  assert.is(o.topic, 'fleet-events');
  assert.is(o.maxLinesPerSec, 25);
  assert.is(parseOptions({}, { FLEET_EVENTS_TOPIC: 't1', LIVEOPS_MAX_LINES: '7' }).topic, 't1');
  assert.is(parseOptions({}, { LIVEOPS_MAX_LINES: '7' }).maxLinesPerSec, 7);
  assert.throws(() => parseOptions({ 'battery-below': 'low' }, {}), (e: unknown) => e instanceof ConfigError && e.variable === '--battery-below');
  assert.throws(() => parseOptions({}, { KAFKA_BROKERS: 'nohost' }), (e: unknown) => e instanceof ConfigError && e.variable === 'KAFKA_BROKERS');
});

const sampling = suite('sampling');

sampling('below the budget every line shows; above it at most the budget per second', () => {
  const s = new LineSampler(10, 0);
  let shown = 0;
  // 1,000 events in one second: the bucket starts full (10) and refills 10/s.
  for (let i = 0; i < 1000; i++) if (s.admit(i, false)) shown += 1;
  assert.ok(shown >= 10 && shown <= 20, `shown ${shown}`);
  assert.is(s.takeHidden(), 1000 - shown);
  // Slow traffic afterwards: one event every 200 ms all show.
  let slow = 0;
  for (let t = 2000; t < 4000; t += 200) if (s.admit(t, false)) slow += 1;
  assert.is(slow, 10);
});

sampling('critical alerts always pass and do not spend the budget', () => {
  const s = new LineSampler(1, 0);
  for (let i = 0; i < 500; i++) assert.ok(s.admit(0, true));
  assert.ok(s.admit(0, false));
  assert.not.ok(s.admit(0, false));
});

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

const options = (over: Partial<TailOptions> = {}): TailOptions => ({
  filter: NO_FILTER,
  render: { color: false, utc: true },
  json: false,
  maxLinesPerSec: 5,
  tty: false,
  ...over,
});

const pipeline = suite('tail pipeline');

pipeline('a flood is sampled and said so, while every critical alert is printed', () => {
  const out = new FakeOut();
  const tail = new LiveTail(options(), out, 0);
  for (let i = 0; i < 10_000; i++) tail.handle(json(`CAR-${i % 100}`, 60), i / 10);
  for (let i = 0; i < 30; i++) tail.handle(json(`CAR-A${i}`, 10), 999);
  tail.handle('garbage', 999);
  tail.tick(1000);
  const lines = out.text.split('\n').filter((l) => l !== '');
  const critical = lines.filter((l) => l.endsWith('CRITICAL BATTERY!'));
  assert.is(critical.length, 30);
  const ordinary = lines.filter((l) => l.includes('🟢'));
  assert.ok(ordinary.length >= 5 && ordinary.length <= 10, `ordinary ${ordinary.length}`);
  const note = lines.find((l) => l.startsWith('…'));
  assert.ok(note, 'the sampling is said');
  assert.match(note!, `${(10_000 - ordinary.length).toLocaleString('en-US')} events not shown`);
  assert.is(tail.stats.events, 10_031);
  assert.is(tail.stats.malformed, 1);
  assert.is(tail.stats.criticalBatteries, 30);
  assert.is(tail.stats.carsSeen, 130);
  assert.match(tail.summary(1000), '10,031 events');
});

pipeline('a terminal gets a pinned status line instead of notes', () => {
  const out = new FakeOut();
  const tail = new LiveTail(options({ tty: true }), out, 0);
  for (let i = 0; i < 100; i++) tail.handle(json('CAR-1', 60), 10);
  tail.tick(1000);
  tail.handle(json('CAR-2', 60), 1500);
  tail.flush();
  assert.not.match(out.text, '…');
  assert.match(out.text, '100 events/s │ 1 cars │ 0 alerts │ up 00:00:01 │ sampling: showing 5/s of 100/s');
  // The status line is cleared before new lines and drawn again after them.
  assert.match(out.text, /\r\x1b\[2K\[20:15:32\] 🟢 CAR-2 .*\n── /);
  tail.close();
  assert.ok(out.text.endsWith('\r\x1b[2K'));
});

pipeline('a terminal that is behind loses ordinary lines, never alerts', () => {
  const out = new FakeOut();
  out.writableNeedDrain = true;
  const tail = new LiveTail(options({ maxLinesPerSec: 100 }), out, 0);
  tail.handle(json('CAR-1', 60), 0);
  tail.handle(json('CAR-1', 5), 0);
  tail.flush();
  assert.is(out.text.trim().split('\n').length, 1);
  assert.match(out.text, 'CRITICAL BATTERY!');
  assert.is(tail.stats.hidden, 1);
});

pipeline('--json: every matching event, raw, one per line, no sampling', () => {
  const out = new FakeOut();
  const tail = new LiveTail(options({ json: true, maxLinesPerSec: 1, filter: f({ cars: new Set(['CAR-7']) }) }), out, 0);
  for (let i = 0; i < 50; i++) tail.handle(json(i % 2 ? 'CAR-7' : 'CAR-8', 60), 0);
  tail.tick(1000);
  const lines = out.text.trim().split('\n');
  assert.is(lines.length, 25);
  for (const l of lines) assert.is(JSON.parse(l).car_id, 'CAR-7');
});

filters.run();
sampling.run();
pipeline.run();
