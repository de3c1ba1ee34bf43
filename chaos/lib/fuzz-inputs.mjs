/**
 * The fuzzer's bad inputs, each with what the system must do with it:
 * - wild(): well-formed CarStatus protobuf with one field out of range or inconsistent; ingestion
 *   must answer BOOKING_FAILED and store nothing (ingestion_messages_rejected_total counts it).
 * - RAW: a gRPC stream that is broken on the wire (framing, compression flag, sizes, undecodable
 *   protobuf, headers); grpc-js must end it with a non-OK status and the process must stay up.
 * - poison(): JSON (or not) written straight to the topic that the pricing worker can never
 *   process; it must go to the dead-letter topic, once each.
 */
import { CarStatus } from '../../common/dist/src/gen/fleet/fleet.js';

const DAY = 24 * 3600 * 1000;

function base(i, now) {
  return {
    carId: `FUZZ-${i % 5000}`,
    latitude: 40.75,
    longitude: -73.98,
    batteryLevel: 50,
    velocity: 30,
    timestamp: now,
    stationId: '',
    charging: false,
    chargeEnergyKwh: 0,
    pluggedInAt: 0,
    bookingRequest: undefined,
    commandResult: undefined,
  };
}

/** One field wrong per message, cycling through these. */
const WILD = [
  (s) => ({ ...s, latitude: Number.NaN }),
  (s) => ({ ...s, latitude: 90.0001 }),
  (s) => ({ ...s, latitude: -1e308 }),
  (s) => ({ ...s, longitude: Number.POSITIVE_INFINITY }),
  (s) => ({ ...s, longitude: 180.5 }),
  // Valid by the contract's ±90°, beyond what Redis GEO holds (±85.05112878°): one such car once
  // failed the storage batch of every car it travelled with.
  (s) => ({ ...s, latitude: 85.0512 }),
  (s) => ({ ...s, latitude: -90 }),
  (s) => ({ ...s, latitude: 89.999999, longitude: 180 }),
  (s) => ({ ...s, latitude: 0, longitude: 0 }),
  (s) => ({ ...s, batteryLevel: -0.01 }),
  (s) => ({ ...s, batteryLevel: 100.0001 }),
  (s) => ({ ...s, batteryLevel: Number.NaN }),
  (s) => ({ ...s, velocity: -1 }),
  (s) => ({ ...s, velocity: 301 }),
  (s) => ({ ...s, velocity: Number.NEGATIVE_INFINITY }),
  (s) => ({ ...s, timestamp: 0 }),
  (s) => ({ ...s, timestamp: Math.floor(s.timestamp / 1000) }), // seconds, not milliseconds
  (s) => ({ ...s, timestamp: -s.timestamp }),
  (s) => ({ ...s, timestamp: s.timestamp + 2 * DAY }),
  (s) => ({ ...s, timestamp: Number.MAX_SAFE_INTEGER }),
  (s) => ({ ...s, carId: '' }),
  (s) => ({ ...s, carId: 'X'.repeat(65) }),
  (s) => ({ ...s, carId: 'CAR 001' }),
  (s) => ({ ...s, carId: 'CAR-\u00e9\u{1F697}' }),
  (s) => ({ ...s, carId: 'CAR-1\n{"event_type":"telemetry"}' }),
  (s) => ({ ...s, stationId: 'ST/../../etc' }),
  (s) => ({ ...s, charging: true }),
  (s) => ({ ...s, chargeEnergyKwh: 5 }),
  (s) => ({ ...s, pluggedInAt: s.timestamp }),
  (s) => ({ ...s, stationId: 'ST-001', charging: true, chargeEnergyKwh: 1000.5, pluggedInAt: s.timestamp - 1000 }),
  (s) => ({ ...s, stationId: 'ST-001', charging: true, chargeEnergyKwh: -3, pluggedInAt: s.timestamp - 1000 }),
  (s) => ({ ...s, stationId: 'ST-001', charging: true, chargeEnergyKwh: Number.NaN, pluggedInAt: s.timestamp - 1000 }),
  (s) => ({ ...s, stationId: 'ST-001', charging: true, chargeEnergyKwh: 3, pluggedInAt: s.timestamp + 1000 }),
  (s) => ({ ...s, stationId: 'ST-001', charging: true, chargeEnergyKwh: 3, pluggedInAt: 0 }),
  (s) => ({ ...s, bookingRequest: { carId: 'SOMEONE-ELSE', stationId: '', expectedArrival: 0, batteryLevel: 10 } }),
  (s) => ({ ...s, bookingRequest: { carId: '', stationId: '', expectedArrival: 0, batteryLevel: 250 } }),
  (s) => ({ ...s, bookingRequest: { carId: '', stationId: 'bad id', expectedArrival: 0, batteryLevel: 10 } }),
  (s) => ({ ...s, bookingRequest: { carId: '', stationId: '', expectedArrival: 5, batteryLevel: 10 } }),
  // A car's answer to an operator's command (CarStatus field 12), malformed: refused naming the field.
  (s) => ({ ...s, commandResult: { commandId: '', outcome: 1, reason: '' } }),
  (s) => ({ ...s, commandResult: { commandId: 'c'.repeat(65), outcome: 1, reason: '' } }),
  (s) => ({ ...s, commandResult: { commandId: 'cmd 1\n', outcome: 2, reason: 'no' } }),
  (s) => ({ ...s, commandResult: { commandId: 'cmd-1', outcome: 0, reason: '' } }),
  (s) => ({ ...s, commandResult: { commandId: 'cmd-1', outcome: 99, reason: '' } }),
  (s) => ({ ...s, commandResult: { commandId: 'cmd-1', outcome: 2, reason: 'r'.repeat(501) } }),
];

/** The i-th wild CarStatus, encoded. */
export function wild(i, now = Date.now()) {
  return Buffer.from(CarStatus.encode(WILD[i % WILD.length](base(i, now))).finish());
}

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, bytes. */
export function frame(bytes, { flag = 0, length = bytes.length } = {}) {
  const header = Buffer.alloc(5);
  header[0] = flag;
  header.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([header, bytes]);
}

function randomBytes(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const PATH = '/fleet.FleetService/StreamTelemetry';

/**
 * Broken streams: headers to send (token added by the caller unless `noToken`) and the body.
 * `expect` is what a correct server does: 'status' = ends it with a non-OK grpc-status (or an
 * HTTP error / stream reset), never an acknowledgement that stores anything.
 */
export const RAW = [
  { kind: 'truncated-frame', body: (i, now) => frame(wild(i, now)).subarray(0, 9) },
  { kind: 'length-beyond-body', body: (i, now) => frame(wild(i, now), { length: 4000 }) },
  // grpc-js reads these two frames as plain messages (it ignores the flag without grpc-encoding and
  // the reserved bits), so their payload is a wild CarStatus: refused by validation if not before.
  { kind: 'compressed-flag-without-encoding', body: (i, now) => frame(wild(i, now), { flag: 1 }) },
  { kind: 'invalid-flag-byte', body: (i, now) => frame(wild(i, now), { flag: 0x80 }) },
  { kind: 'length-2GiB', body: () => frame(Buffer.alloc(16), { length: 0x7fffffff }) },
  { kind: 'oversized-message', body: (i, now) => frame(Buffer.from(CarStatus.encode({ ...base(i, now), carId: `FUZZ-${'Y'.repeat(20_000)}` }).finish())) },
  { kind: 'undecodable-protobuf', body: (i) => frame(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41, 0x42])) },
  { kind: 'bad-wire-type', body: (i) => frame(Buffer.concat([Buffer.from([0x0f]), randomBytes(20, i)])) },
  { kind: 'half-header', body: () => Buffer.from([0, 0, 0]) },
  { kind: 'wrong-content-type', headers: { 'content-type': 'application/json' }, body: (i, now) => Buffer.from(JSON.stringify(base(i, now))) },
  { kind: 'unknown-method', headers: { ':path': '/fleet.FleetService/DropTables' }, body: (i, now) => frame(validLooking(i, now)) },
  { kind: 'no-token', noToken: true, body: (i, now) => frame(validLooking(i, now)) },
  { kind: 'wrong-token', token: 'not-the-token', body: (i, now) => frame(validLooking(i, now)) },
];

/** A CarStatus that would pass validation: used where the transport or auth must refuse it first. */
function validLooking(i, now) {
  return Buffer.from(CarStatus.encode(base(i, now)).finish());
}

export function rawHeaders(kind, token) {
  const headers = { ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' };
  if (!kind.noToken) headers['x-api-token'] = kind.token ?? token;
  return { ...headers, ...(kind.headers ?? {}) };
}

/** Values the pricing worker must dead-letter (null = a tombstone). Keys name them POISON-n. */
const POISON = [
  () => '{',
  () => 'not json at all',
  () => Buffer.from([0x00, 0xff, 0xfe, 0x7b]),
  () => '[]',
  () => '42',
  () => 'null',
  () => '"telemetry"',
  () => null,
  (i, now) => JSON.stringify({ car_id: `POISON-${i}`, timestamp: now }),
  (i, now) => JSON.stringify({ event_type: 7, car_id: `POISON-${i}`, timestamp: now }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', car_id: `POISON-${i}`, timestamp: now, charging: 'yes' }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', timestamp: now, charging: true, station_id: 'ST-001', plugged_in_at: now - 1, charge_energy_kwh: 1 }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', car_id: `POISON-${i}`, timestamp: 'soon', charging: true, station_id: 'ST-001', plugged_in_at: now - 1, charge_energy_kwh: 1 }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', car_id: `POISON-${i}`, timestamp: now, charging: true, plugged_in_at: now - 1, charge_energy_kwh: 1 }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', car_id: `POISON-${i}`, timestamp: now, charging: true, station_id: 'ST-001', plugged_in_at: now + 1, charge_energy_kwh: 1 }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', car_id: `POISON-${i}`, timestamp: now, charging: true, station_id: 'ST-001', plugged_in_at: now - 1, charge_energy_kwh: -1 }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', car_id: `POISON-${i}`, timestamp: now, charging: true, station_id: 'ST-001', plugged_in_at: now - 1, charge_energy_kwh: 1e12 }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', car_id: `POISON-${i}`, timestamp: now, charging: true, station_id: 'ST-001', plugged_in_at: now - 1, charge_energy_kwh: '5' }),
  (i, now) => JSON.stringify({ event_type: 'telemetry', car_id: `POISON-${i}`, timestamp: 1e20, charging: true, station_id: 'ST-001', plugged_in_at: now - 1, charge_energy_kwh: 1 }),
  (i, now) => `{"event_type":"telemetry","car_id":"POISON-${i}","charging":true,"timestamp":${now}` + ',"x":"'.padEnd(5000, 'z'),
];

export function poison(i, now = Date.now()) {
  const v = POISON[i % POISON.length](i, now);
  return { key: `POISON-${i}`, value: v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(v) };
}
