import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseEvent, type CommandView } from '../src/event.js';
import { commandLine, commandStatusStyle, eventLine, formatLatency, statusLine } from '../src/render.js';
import { matches, NO_FILTER } from '../src/filter.js';
import { CommandTracker } from '../src/command-tracker.js';
import { LiveTail } from '../src/tail.js';

const PLAIN = { color: false, utc: true };
const COLOR = { color: true, utc: true };
// 2023-12-02T20:15:32Z
const T = Date.UTC(2023, 11, 2, 20, 15, 32);

function event(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    event_type: 'command_status',
    event_id: '3f2a1b9c-0000-4000-8000-000000000001:4',
    command_id: '3f2a1b9c-0000-4000-8000-000000000001',
    car_id: 'CAR-042',
    command: 'EMERGENCY_STOP',
    status: 'SUCCEEDED',
    at: T,
    issued_at: T - 17,
    latency_ms: 17,
    instance: 'ingestion-a',
    reason: '',
    deliveries: 1,
    ...over,
  });
}

const view = (over: Record<string, unknown> = {}) => parseEvent(event(over)) as CommandView;

const lines = suite('command lines');

lines('a command_status event is read into a command view', () => {
  assert.equal(view(), {
    kind: 'command',
    carId: 'CAR-042',
    commandId: '3f2a1b9c-0000-4000-8000-000000000001',
    command: 'EMERGENCY_STOP',
    status: 'SUCCEEDED',
    timestamp: T,
    latencyMs: 17,
    instance: 'ingestion-a',
    deliveries: 1,
  });
  // Without latency_ms the latency is at − issued_at.
  assert.is(view({ latency_ms: undefined, at: T + 40, issued_at: T }).latencyMs, 40);
  // Missing the fields a line needs: not a command event.
  assert.is(parseEvent(event({ status: undefined })), undefined);
  assert.is(parseEvent(event({ at: 'soon' })), undefined);
  assert.is(parseEvent(event({ car_id: 7 })), undefined);
});

lines('the plain line: time, car, command, status, latency, id, reason', () => {
  assert.is(commandLine(view(), PLAIN), '[20:15:32] 📡 CAR-042    | EMERGENCY_STOP | SUCCEEDED  | 17 ms | 3f2a1b9c');
  assert.is(
    commandLine(view({ status: 'FAILED', reason: 'emergency-stopped: send RESUME first', command: 'REROUTE', latency_ms: 1250 }), PLAIN),
    '[20:15:32] 📡 CAR-042    | REROUTE | FAILED     | 1.25 s | 3f2a1b9c  emergency-stopped: send RESUME first',
  );
  assert.is(
    commandLine(view({ status: 'SENT', latency_ms: 2, deliveries: 2 }), PLAIN),
    '[20:15:32] 📡 CAR-042    | EMERGENCY_STOP | SENT       | 2 ms | 3f2a1b9c  delivery 2',
  );
  assert.is(eventLine(view(), PLAIN), commandLine(view(), PLAIN));
});

lines('colours: SUCCEEDED green, FAILED / TIMED_OUT / EXPIRED red, on the way dim or cyan', () => {
  assert.match(commandLine(view(), COLOR), '\x1b[32m\x1b[1mSUCCEEDED ');
  for (const status of ['FAILED', 'TIMED_OUT', 'EXPIRED']) {
    assert.match(commandLine(view({ status }), COLOR), `\x1b[31m\x1b[1m${status}`);
    assert.equal(commandStatusStyle(status), ['red', 'bold']);
  }
  assert.match(commandLine(view({ status: 'QUEUED' }), COLOR), '\x1b[2mQUEUED');
  assert.match(commandLine(view({ status: 'SENT' }), COLOR), '\x1b[36mSENT');
  assert.match(commandLine(view({ status: 'DELIVERED' }), COLOR), '\x1b[36mDELIVERED');
  // A failure's reason is red too; colors off, no escapes at all.
  assert.match(commandLine(view({ status: 'TIMED_OUT', reason: 'the car did not answer within 5000 ms' }), COLOR), '\x1b[31mthe car did not answer');
  assert.not.match(commandLine(view({ status: 'FAILED', reason: 'x' }), PLAIN), '\x1b');
});

lines('latency: ms under a second, then seconds, then minutes', () => {
  assert.is(formatLatency(0), '0 ms');
  assert.is(formatLatency(999.4), '999 ms');
  assert.is(formatLatency(1500), '1.50 s');
  assert.is(formatLatency(90_000), '1.5 min');
});

lines('filters: by car as for events; not under --bookings-only, --alerts-only or --battery-below', () => {
  const v = view();
  assert.ok(matches(v, NO_FILTER));
  assert.ok(matches(v, { ...NO_FILTER, cars: new Set(['CAR-042']) }));
  assert.not.ok(matches(v, { ...NO_FILTER, cars: new Set(['CAR-001']) }));
  assert.not.ok(matches(v, { ...NO_FILTER, bookingsOnly: true }));
  assert.not.ok(matches(v, { ...NO_FILTER, alertsOnly: true }));
  assert.not.ok(matches(v, { ...NO_FILTER, batteryBelow: 50 }));
});

const flight = suite('commands in flight');

flight('a command is in flight from its first status until a final one; a replayed end counts once', () => {
  const t = new CommandTracker();
  const at = (id: string, status: string) => view({ command_id: id, status });
  t.see(at('a', 'QUEUED'));
  t.see(at('a', 'SENT'));
  t.see(at('b', 'QUEUED'));
  assert.is(t.inFlight, 2);
  t.see(at('a', 'SUCCEEDED'));
  t.see(at('a', 'SUCCEEDED'));
  // A late SENT of an ended command does not bring it back.
  t.see(at('a', 'SENT'));
  assert.is(t.inFlight, 1);
  t.see(at('b', 'EXPIRED'));
  t.see(at('c', 'TIMED_OUT'));
  assert.is(t.inFlight, 0);
  assert.equal(t.ended, { SUCCEEDED: 1, FAILED: 0, TIMED_OUT: 1, EXPIRED: 1 });
  assert.is(t.changes, 8);
});

flight('bounded: past its capacity the oldest open command is forgotten', () => {
  const t = new CommandTracker(3);
  for (const id of ['a', 'b', 'c', 'd']) t.see(view({ command_id: id, status: 'SENT' }));
  assert.is(t.inFlight, 3);
});

flight('the status line counts commands in flight once there are commands', () => {
  assert.match(statusLine({ eventsPerSec: 1, carsSeen: 1, alerts: 0, commandsInFlight: 2, uptimeMs: 0, shownPerSec: 1, sampledPerSec: 0 }, false), '│ 2 commands in flight │');
  assert.not.match(statusLine({ eventsPerSec: 1, carsSeen: 1, alerts: 0, uptimeMs: 0, shownPerSec: 1, sampledPerSec: 0 }, false), 'commands');
});

class FakeOut {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

flight('in the tail: command lines are never sampled out, and the summary tells of them', () => {
  const out = new FakeOut();
  const tail = new LiveTail({ filter: NO_FILTER, render: PLAIN, json: false, maxLinesPerSec: 1, tty: true }, out, 0);
  const tele = JSON.stringify({ event_type: 'telemetry', car_id: 'CAR-001', lat: 40.75, lon: -73.98, battery: 80, velocity: 10, timestamp: T });
  for (let i = 0; i < 100; i++) tail.handle(tele, 5);
  for (let i = 0; i < 20; i++) tail.handle(event({ command_id: `cmd-${i}`, status: i < 15 ? 'SUCCEEDED' : 'SENT' }), 5);
  tail.tick(1000);
  const shown = out.text.split('\n').filter((l) => l.includes('📡'));
  assert.is(shown.length, 20);
  assert.match(out.text, '5 commands in flight');
  assert.match(tail.summary(1000), 'commands: 20 status changes; ended 15 succeeded, 0 failed, 0 timed out, 0 expired; 5 in flight');
  tail.close();
});

lines.run();
flight.run();
