/**
 * End to end: the compiled CLI runs in a real terminal (tmux) against the real Kafka broker on a
 * topic of its own; the test produces contract events and reads the screen.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Producer } from 'kafkajs';
import { createKafka, createLogger, ensureTopics } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';

const CLI = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
const test = suite('live-ops CLI in a terminal');
const topic = uniqueName('liveops-it');
// Created only by the test that needs it: until then the CLI must go on quietly without it.
const commandsTopic = uniqueName('liveops-it-commands');
const alertsTopic = uniqueName('liveops-it-alerts');
const socket = uniqueName('liveops-tmux');
// 2023-12-02T20:15:32Z, shown with --utc as 20:15:32.
const T = Date.UTC(2023, 11, 2, 20, 15, 32);
const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'liveops-test', log: createLogger('liveops-test', { LOG_LEVEL: 'silent' }), quiet: true });
let producer: Producer;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
}

function startCli(session: string, args: string[], env: Record<string, string> = {}): void {
  const vars = { FLEET_EVENTS_TOPIC: topic, FLEET_COMMANDS_TOPIC: commandsTopic, FLEET_ALERTS_TOPIC: alertsTopic, KAFKA_BROKERS: testServers.kafkaBrokers.join(','), ...env };
  const assignments = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  // The test runner sets NO_COLOR; the terminal decides here, unless a case sets it again.
  const command = ['env', '-u', 'NO_COLOR', ...assignments, process.execPath, CLI, '--utc', ...args].map((a) => `'${a}'`).join(' ');
  // The shell reports the CLI's exit status on screen: tmux's own pane_dead can lag behind (seen in
  // a full run: the CLI a zombie 30 s after exiting, not yet reaped by the tmux server).
  tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', `sleep 0.3; ${command}; echo "[cli exit status $?]"`);
  tmux('set-option', '-t', session, 'remain-on-exit', 'on');
}

function screen(session: string, escapes = false): string {
  return tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session, ...(escapes ? ['-e'] : []));
}

async function waitForScreen(session: string, what: string | RegExp, timeoutMs = 20_000): Promise<string> {
  return waitFor(
    `${String(what)} on screen`,
    () => {
      const text = screen(session);
      return (typeof what === 'string' ? text.includes(what) : what.test(text)) ? text : undefined;
    },
    timeoutMs,
    100,
  );
}

/** `word` drawn in SGR colour `code` (tmux writes styles its own way: `\x1b[1m\x1b[31m`, `\x1b[1;31m`, ...). */
function coloured(word: string, code: number): RegExp {
  return new RegExp(`\\x1b\\[(?:\\d+;)*${code}(?:;\\d+)*m(?:\\x1b\\[[0-9;]*m)*${word}`);
}

const telemetry = (car: string, battery: number, lat: number, lon: number, velocity: number, timestamp = T) =>
  JSON.stringify({ car_id: car, lat, lon, battery, velocity, timestamp, event_type: 'telemetry', event_id: uniqueName('e') });

async function produce(values: Array<{ key: string; value: string }>): Promise<void> {
  for (let i = 0; i < values.length; i += 5000) await producer.send({ topic, messages: values.slice(i, i + 5000) });
}

test.before(async () => {
  await ensureTopics(kafka, [{ topic, numPartitions: 3 }]);
  producer = kafka.producer();
  await producer.connect();
  // An event from before any CLI started: only --from-beginning shows it.
  await produce([{ key: 'CAR-OLD', value: telemetry('CAR-OLD', 70, 40.75, -73.98, 10) }]);
});

test.after(async () => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  await producer?.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, commandsTopic, alertsTopic] }).catch(() => {});
  await admin.disconnect();
});

test('from now: the contract lines, booking style, colors, status line, every alert in a flood, summary on Ctrl+C', async () => {
  startCli('live', ['--max-lines', '5']);
  await waitForScreen('live', 'connected');
  // The consumer resolves "now" on its first fetch just after joining.
  await new Promise((r) => setTimeout(r, 2000));
  await produce([
    { key: 'CAR-001', value: telemetry('CAR-001', 85.3, 40.7234, -73.9876, 45.2) },
    { key: 'CAR-002', value: telemetry('CAR-002', 35, 40.7301, -73.99, 20) },
    { key: 'CAR-003', value: telemetry('CAR-003', 12.1, 40.7123, -73.9987, 8.3) },
    {
      key: 'CAR-004',
      value: JSON.stringify({ event_type: 'booking_confirmed', event_id: 'b1', car_id: 'CAR-004', booking_id: '5f0c1d2e-1111', station_id: 'ST-017', price_rate: 0.31, timestamp: T }),
    },
  ]);
  const text = await waitForScreen('live', 'BOOKING CONFIRMED');
  assert.ok(text.includes('[20:15:32] 🟢 CAR-001    | Battery:  85.3% | Location: (40.7234, -73.9876) | Speed: 45.2 km/h'), text);
  assert.ok(text.includes('[20:15:32] 🟡 CAR-002    | Battery:  35.0% | Location: (40.7301, -73.9900) | Speed: 20.0 km/h'), text);
  assert.ok(text.includes('[20:15:32] 🔴 CAR-003    | Battery:  12.1% | Location: (40.7123, -73.9987) | Speed:  8.3 km/h  CRITICAL BATTERY!'), text);
  assert.ok(text.includes('[20:15:32] 🔌 CAR-004    | BOOKING CONFIRMED | Station: ST-017 | Rate: $0.310/kWh | Booking: 5f0c1d2e'), text);
  assert.not.ok(text.includes('CAR-OLD'), 'from now: the older event is not shown');
  // A terminal without NO_COLOR gets colors.
  assert.match(screen('live', true), /\x1b\[[0-9;]*m.*CRITICAL BATTERY!/);
  // Alerts on the status line are the alert engine's (none here): a critical battery line is not one.
  await waitForScreen('live', /events\/s │ \d+ cars │ 0 alerts │ up 00:00:\d\d/);

  // A flood: 20,000 ordinary events and 3 critical ones; the screen samples, the alerts all show.
  const flood = Array.from({ length: 20_000 }, (_, i) => ({ key: `CAR-1${i % 100}`, value: telemetry(`CAR-1${String(i % 100).padStart(2, '0')}`, 70, 40.75, -73.98, 30) }));
  flood.splice(5000, 0, { key: 'CAR-901', value: telemetry('CAR-901', 9.5, 40.75, -73.98, 5) });
  flood.splice(12000, 0, { key: 'CAR-902', value: telemetry('CAR-902', 14.9, 40.75, -73.98, 5) });
  flood.push({ key: 'CAR-903', value: telemetry('CAR-903', 1.2, 40.75, -73.98, 0) });
  await produce(flood);
  const after = await waitForScreen('live', 'CAR-903');
  await waitForScreen('live', 'CAR-902');
  for (const car of ['CAR-901', 'CAR-902', 'CAR-903']) assert.match(screen('live'), new RegExp(`🔴 ${car}    \\| .*CRITICAL BATTERY!`));
  const ordinary = after.split('\n').filter((l) => /🟢 CAR-1\d\d/.test(l)).length;
  assert.ok(ordinary < 2000, `sampled: ${ordinary} ordinary lines of 20,000`);
  await waitForScreen('live', 'sampling: showing');

  tmux('send-keys', '-t', 'live', 'C-c');
  const end = await waitForScreen('live', 'live-ops summary');
  assert.match(end, /live-ops summary: 20,007 events/);
  assert.match(end, /4 critical battery alerts, bookings: 1 confirmed/);
  const exited = await waitForScreen('live', /\[cli exit status \d+\]/);
  assert.match(exited, /\[cli exit status 0\]/);
});

test('--from-beginning with a car filter, NO_COLOR: plain lines of that car only', async () => {
  startCli('filtered', ['--from-beginning', '--car', 'CAR-OLD,CAR-003'], { NO_COLOR: '1' });
  const text = await waitForScreen('filtered', 'CAR-003');
  await waitForScreen('filtered', 'CAR-OLD');
  assert.ok(text.includes('[20:15:32] 🔴 CAR-003    | Battery:  12.1% | Location: (40.7123, -73.9987) | Speed:  8.3 km/h  CRITICAL BATTERY!'));
  const lines = screen('filtered').split('\n').filter((l) => l.startsWith('['));
  assert.ok(lines.every((l) => / (CAR-OLD|CAR-003) /.test(l)), lines.join('\n'));
  assert.not.match(screen('filtered', true), /\x1b\[3[0-9]m/);
  tmux('send-keys', '-t', 'filtered', 'C-c');
  await waitForScreen('filtered', 'live-ops summary');
});

test('--json through a pipe: one raw event per line, clean exit on SIGINT', async () => {
  const child = spawn(process.execPath, [CLI, '--from-beginning', '--json', '--bookings-only'], {
    env: { ...process.env, FLEET_EVENTS_TOPIC: topic, FLEET_COMMANDS_TOPIC: commandsTopic, FLEET_ALERTS_TOPIC: alertsTopic, KAFKA_BROKERS: testServers.kafkaBrokers.join(',') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor('the booking event', () => out.includes('\n'));
  child.kill('SIGINT');
  assert.is(await exited, 0);
  const lines = out.trim().split('\n');
  assert.is(lines.length, 1, out);
  assert.is(JSON.parse(lines[0]!).booking_id, '5f0c1d2e-1111');
  // The CLI's own words and the summary go to stderr, so stdout stays JSON.
  assert.match(err, 'live-ops summary');
});

test('commands: without their topic the tail goes on quietly; once it exists, every status shows as its own line', async () => {
  startCli('commands', ['--car', 'CAR-042'], { NO_COLOR: '1' });
  await waitForScreen('commands', 'connected');
  await new Promise((r) => setTimeout(r, 2000));
  await produce([{ key: 'CAR-042', value: telemetry('CAR-042', 60, 40.75, -73.98, 10) }]);
  const before = await waitForScreen('commands', 'CAR-042');
  assert.not.match(before, commandsTopic, 'nothing said about the missing topic');
  // The command API creates the topic at its start; the tail finds it and reads it from its beginning.
  await ensureTopics(kafka, [{ topic: commandsTopic, numPartitions: 1 }]);
  const command = (status: string, at: number, reason = '', car = 'CAR-042') =>
    JSON.stringify({ event_type: 'command_status', event_id: `${car}:${status}`, command_id: car === 'CAR-042' ? 'c1a2b3c4-d5e6' : 'c9f8e7d6-0000', car_id: car, command: 'EMERGENCY_STOP', status, at, issued_at: T, latency_ms: at - T, instance: '', reason, deliveries: 1 });
  await producer.send({
    topic: commandsTopic,
    messages: [
      // One partition, so FAILED on screen means every event before it was read.
      { key: 'CAR-043', value: command('SUCCEEDED', T + 5, '', 'CAR-043') },
      { key: 'CAR-042', value: command('QUEUED', T) },
      { key: 'CAR-042', value: command('SENT', T + 3) },
      { key: 'CAR-042', value: command('FAILED', T + 21, 'emergency-stopped: send RESUME first') },
    ],
  });
  const text = await waitForScreen('commands', 'FAILED', 30_000);
  assert.ok(text.includes('[20:15:32] 📡 CAR-042    | EMERGENCY_STOP | QUEUED     | 0 ms | c1a2b3c4'), text);
  assert.ok(text.includes('[20:15:32] 📡 CAR-042    | EMERGENCY_STOP | SENT       | 3 ms | c1a2b3c4'), text);
  assert.ok(text.includes('[20:15:32] 📡 CAR-042    | EMERGENCY_STOP | FAILED     | 21 ms | c1a2b3c4  emergency-stopped: send RESUME first'), text);
  assert.ok(text.includes(`tailing ${commandsTopic} too`), text);
  // The car filter applies to commands too.
  assert.not.ok(text.includes('CAR-043'), text);
  tmux('send-keys', '-t', 'commands', 'C-c');
  const end = await waitForScreen('commands', 'live-ops summary');
  assert.match(end, /commands: 4 status changes; ended 1 succeeded, 1 failed, 0 timed out, 0 expired; 0 in flight/);
});

test('alerts and presence: without the alerts topic the tail goes on; then every alert and presence change is a coloured line of its own, counted on the status line', async () => {
  startCli('alerts', ['--car', 'CAR-050,CAR-051']);
  await waitForScreen('alerts', 'connected');
  await new Promise((r) => setTimeout(r, 2000));
  const presence = (type: string, car: string, extra: Record<string, unknown>) =>
    JSON.stringify({ event_type: type, event_id: `${type}:${car}:${T}`, car_id: car, timestamp: T, instance: 'ingestion-it', ...extra });
  await produce([
    { key: 'CAR-050', value: presence('car_online', 'CAR-050', { reason: 'first_seen' }) },
    { key: 'CAR-050', value: presence('car_connected', 'CAR-050', { peer: 'ipv4:127.0.0.1:50999' }) },
    { key: 'CAR-051', value: presence('car_offline', 'CAR-051', { reason: 'timeout', last_seen: T - 31_000, held_by: 'ingestion-it' }) },
    { key: 'CAR-052', value: presence('car_offline', 'CAR-052', { reason: 'timeout', last_seen: T - 31_000, held_by: 'ingestion-it' }) },
    // A type no one told the CLI about: skipped, never shown, never fatal.
    { key: 'CAR-050', value: JSON.stringify({ event_type: 'car_teleported', car_id: 'CAR-050', timestamp: T }) },
  ]);
  const before = await waitForScreen('alerts', '| OFFLINE |');
  assert.ok(before.includes('[20:15:32] 📶 CAR-050    | ONLINE  | first_seen | ingestion-it'), before);
  assert.ok(before.includes('[20:15:32] 📴 CAR-051    | OFFLINE | timeout | last seen 20:15:01 (31.00 s before) | held by ingestion-it'), before);
  assert.not.ok(before.includes('CONNECTED'), 'connectivity only with --connections');
  assert.not.ok(before.includes('CAR-052'), 'the car filter applies to presence');
  assert.not.ok(before.includes('teleported'), before);
  assert.not.match(before, alertsTopic, 'nothing said about the missing alerts topic');
  // The status line counts every car offline (the fleet's), whatever the filter.
  await waitForScreen('alerts', /│ 0 alerts │ 2 offline │/);
  assert.match(screen('alerts', true), coloured('OFFLINE', 31));
  assert.match(screen('alerts', true), coloured('ONLINE', 32));

  // The alert engine creates its topic at its start; the tail finds it and reads it from its beginning.
  await ensureTopics(kafka, [{ topic: alertsTopic, numPartitions: 1 }]);
  const alert = (type: string, car: string, rule: string, severity: string, values: Record<string, unknown>) =>
    JSON.stringify({ event_type: type, event_id: `${car}.${rule}.${T}:${type}`, alert_id: `${car}.${rule}.${T}`, car_id: car, rule, severity, at: T, raised_at: T, values });
  await producer.send({
    topic: alertsTopic,
    messages: [
      { key: 'CAR-050', value: alert('alert_raised', 'CAR-050', 'overspeed', 'warning', { velocity: 112.4, limit_kmh: 100, held_s: 12, since: T - 12_000, max_kmh: 118.2 }) },
      { key: 'CAR-051', value: alert('alert_raised', 'CAR-051', 'battery_critical', 'critical', { battery: 12.1, low_pct: 20, critical_pct: 15 }) },
      { key: 'CAR-052', value: alert('alert_raised', 'CAR-052', 'offline', 'warning', { reason: 'timeout' }) },
      { key: 'CAR-050', value: alert('alert_cleared', 'CAR-050', 'overspeed', 'warning', { velocity: 54, limit_kmh: 100, max_kmh: 118.2 }) },
      // One partition: this line on screen means every alert before it was read.
      { key: 'CAR-051', value: alert('alert_acknowledged', 'CAR-051', 'battery_critical', 'critical', {}) },
    ],
  });
  const text = await waitForScreen('alerts', 'ALERT ACKNOWLEDGED', 30_000);
  assert.ok(text.includes(`tailing ${alertsTopic} too (alerts)`), text);
  assert.ok(text.includes('[20:15:32] 🔶 CAR-050    | ALERT RAISED       | overspeed | WARNING | 112.4 km/h, limit 100 km/h, held 12.00 s, max 118.2 km/h'), text);
  assert.ok(text.includes('[20:15:32] 🚨 CAR-051    | ALERT RAISED       | battery_critical | CRITICAL | battery 12.1%'), text);
  assert.ok(text.includes('[20:15:32] ✅ CAR-050    | ALERT CLEARED      | overspeed | WARNING | 54.0 km/h, limit 100 km/h, max 118.2 km/h'), text);
  assert.ok(text.includes('[20:15:32] 👤 CAR-051    | ALERT ACKNOWLEDGED | battery_critical | CRITICAL'), text);
  assert.not.ok(text.includes('CAR-052    | ALERT'), 'the car filter applies to alerts');
  const colored = screen('alerts', true);
  const line = (needle: string) => colored.split('\n').find((l) => l.includes(needle)) ?? '';
  assert.match(line('battery_critical'), coloured('ALERT RAISED', 31));
  assert.match(line('held 12'), coloured('ALERT RAISED', 33));
  assert.match(line('ALERT CLEARED'), coloured('ALERT CLEARED', 2));
  // Raised three (one for a car filtered out), cleared one: two active.
  await waitForScreen('alerts', /│ 2 alerts │ 2 offline │/);
  tmux('send-keys', '-t', 'alerts', 'C-c');
  const end = await waitForScreen('alerts', 'live-ops summary');
  assert.match(end, /alerts: 3 raised, 0 refreshed, 1 cleared, 1 acknowledged; 2 active/);
  assert.match(end, /presence: 1 online, 2 offline changes; 2 cars offline/);
  assert.match(end, /1 events of other types skipped/);
});

test('--alerts-only: alerts and presence changes, not telemetry above the critical line', async () => {
  startCli('alerts-only', ['--from-beginning', '--alerts-only'], { NO_COLOR: '1' });
  const text = await waitForScreen('alerts-only', 'ALERT ACKNOWLEDGED', 30_000);
  await waitForScreen('alerts-only', 'CAR-052    | OFFLINE');
  const lines = screen('alerts-only').split('\n').filter((l) => l.startsWith('['));
  assert.ok(lines.length > 0);
  assert.ok(lines.every((l) => /\| (ALERT |ONLINE|OFFLINE)|CRITICAL BATTERY!$/.test(l)), lines.join('\n'));
  assert.ok(text.includes('CAR-003    | Battery:  12.1%'), 'a critical battery is still an alert');
  assert.not.ok(text.includes('CAR-001'), 'telemetry above the critical line is not');
  tmux('send-keys', '-t', 'alerts-only', 'C-c');
  await waitForScreen('alerts-only', 'live-ops summary');
});

test.run();
