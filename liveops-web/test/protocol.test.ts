import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BYTES_PER_CAR, FLAG_ALERT, FLAG_STOPPED, HEADER_BYTES, KIND_DELTA, KIND_SNAPSHOT, batteryBand, decodeFrame, encodeFrame } from '../src/protocol.js';
import { FleetState } from '../src/state.js';

const telemetry = (car: string, lat: number, lon: number, battery: number, velocity: number, timestamp: number) =>
  JSON.stringify({ car_id: car, lat, lon, battery, velocity, timestamp, event_type: 'telemetry', event_id: `${car}-${timestamp}` });

test('a frame carries every car exactly: positions to the microdegree, battery, speed, flags, time, new ids', () => {
  const state = new FleetState({ offlineAfterMs: 30_000, recentEvents: 5 });
  state.apply(telemetry('CAR-001', 40.7234, -73.9876, 85.3, 45.2, 1_701_532_800_000), 0);
  state.apply(telemetry('CAR-002', 40.712345, -74.001234, 12.1, 0, 1_701_532_800_500), 0);
  const rows = Uint32Array.from([0, 1]);
  const buffer = encodeFrame({ kind: KIND_SNAPSHOT, seq: 7, rows, count: 2, columns: state.columns, namesFrom: 0, names: state.namesFrom(0) });
  assert.is(buffer.byteLength, HEADER_BYTES + 2 * BYTES_PER_CAR + 'CAR-001\nCAR-002'.length);
  const f = decodeFrame(buffer);
  assert.is(f.kind, KIND_SNAPSHOT);
  assert.is(f.seq, 7);
  assert.equal(f.names, ['CAR-001', 'CAR-002']);
  assert.equal([...f.index], [0, 1]);
  assert.equal([...f.lat], [40_723_400, 40_712_345]);
  assert.equal([...f.lon], [-73_987_600, -74_001_234]);
  assert.equal([...f.battery], [8530, 1210]);
  assert.equal([...f.velocity], [452, 0]);
  assert.is(f.base + f.ts[0]!, 1_701_532_800_000);
  assert.is(f.base + f.ts[1]!, 1_701_532_800_500);
  assert.is(f.flags[0], 0);
  assert.is(f.flags[1], FLAG_ALERT | FLAG_STOPPED);
});

test('10,000 cars fit one frame of about 210 kB', () => {
  const state = new FleetState({ offlineAfterMs: 30_000, recentEvents: 1 });
  for (let i = 0; i < 10_000; i++) state.apply(telemetry(`CAR-${i}`, 40.7 + i * 1e-5, -74 + i * 1e-5, i % 100, 30, 1_700_000_000_000 + i), 0);
  const rows = Uint32Array.from({ length: 10_000 }, (_, i) => i);
  const delta = encodeFrame({ kind: KIND_DELTA, seq: 1, rows, count: 10_000, columns: state.columns, namesFrom: 10_000, names: new Uint8Array(0) });
  assert.is(delta.byteLength, HEADER_BYTES + 10_000 * BYTES_PER_CAR);
  const f = decodeFrame(delta);
  assert.is(f.count, 10_000);
  assert.is(f.lat[9_999], Math.round((40.7 + 9_999 * 1e-5) * 1e6));
});

test('a foreign or truncated message is refused, not misread', () => {
  assert.throws(() => decodeFrame(new ArrayBuffer(10)), /shorter than its header/);
  assert.throws(() => decodeFrame(new ArrayBuffer(64)), /not a GreenLane frame/);
  const state = new FleetState({ offlineAfterMs: 30_000, recentEvents: 1 });
  state.apply(telemetry('CAR-1', 40.75, -73.99, 50, 10, 1), 0);
  const good = encodeFrame({ kind: KIND_DELTA, seq: 1, rows: [0], count: 1, columns: state.columns, namesFrom: 0, names: state.namesFrom(0) });
  assert.throws(() => decodeFrame(good.slice(0, good.byteLength - 1)), /header says/);
});

test('battery colours are the CLI\'s: green above 50, yellow 20 to 50, red below 20', () => {
  assert.equal([85.3, 50.01, 50, 20, 19.99, 0].map(batteryBand), ['green', 'green', 'yellow', 'yellow', 'red', 'red']);
});

test.run();
