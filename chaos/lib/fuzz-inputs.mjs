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

/**
 * Hostile HTTP to the command API (command-api/openapi.json): each case is a request and the
 * refusal a correct API answers it with, always a JSON `{error}` counted in
 * command_api_requests_refused_total. `ctx`: { token (the operators'), vehicleToken, car (a car of
 * the valid fleet, known to the API), maxBody (COMMANDS_MAX_BODY_BYTES) }. A request is
 * { method, path, headers, body, chunked }: `path` is sent exactly as written (node:http, no URL
 * normalisation), `chunked` sends the body without a content-length.
 */
const json = (o) => JSON.stringify(o);
const issuePath = (car) => `/v1/cars/${car}/commands`;
const post = (body, extra = {}) => (ctx) => ({ method: 'POST', path: issuePath(ctx.car), body, ...extra });
const postJson = (o) => post(json(o));
const get = (path) => () => ({ method: 'GET', path });
const as = (headers) => (make) => (ctx, i) => ({ ...make(ctx, i), auth: false, headers });
const REROUTE = (p) => ({ type: 'REROUTE', latitude: 40.758, longitude: -73.9855, ...p });

export const COMMAND_API_CASES = [
  // Malformed JSON
  { kind: 'json-empty', expect: 400, make: post('') },
  { kind: 'json-truncated', expect: 400, make: post('{"type":"EMERGENCY_') },
  { kind: 'json-trailing-garbage', expect: 400, make: post('{"type":"EMERGENCY_STOP"}}') },
  { kind: 'json-trailing-comma', expect: 400, make: post('{"type":"EMERGENCY_STOP",}') },
  { kind: 'json-single-quotes', expect: 400, make: post("{'type':'EMERGENCY_STOP'}") },
  { kind: 'json-nan-literal', expect: 400, make: post('{"type":"REROUTE","latitude":NaN,"longitude":-73.98}') },
  { kind: 'json-bom', expect: 400, make: post('\ufeff{"type":"EMERGENCY_STOP"}') },
  { kind: 'json-binary', expect: 400, make: post(Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x22, 0x80, 0x7d])) },
  { kind: 'json-deep-nesting', expect: 400, make: post('['.repeat(4000) + ']'.repeat(4000)) },
  // Not an object
  { kind: 'body-array', expect: 400, make: post('[{"type":"EMERGENCY_STOP"}]') },
  { kind: 'body-null', expect: 400, make: post('null') },
  { kind: 'body-string', expect: 400, make: post('"EMERGENCY_STOP"') },
  { kind: 'body-number', expect: 400, make: post('42') },
  // Wrong types
  { kind: 'type-number', expect: 400, make: postJson({ type: 5 }) },
  { kind: 'type-null', expect: 400, make: postJson({ type: null }) },
  { kind: 'type-array', expect: 400, make: postJson({ type: ['EMERGENCY_STOP'] }) },
  { kind: 'type-object', expect: 400, make: postJson({ type: { name: 'EMERGENCY_STOP' } }) },
  { kind: 'latitude-string', expect: 400, make: postJson(REROUTE({ latitude: '40.758' })) },
  { kind: 'longitude-bool', expect: 400, make: postJson(REROUTE({ longitude: true })) },
  { kind: 'ttl-string', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', ttl_ms: '1000' }) },
  { kind: 'ttl-fraction', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', ttl_ms: 1500.5 }) },
  { kind: 'ttl-too-short', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', ttl_ms: 99 }) },
  { kind: 'ttl-too-long', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', ttl_ms: 1e12 }) },
  { kind: 'timeout-negative', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', timeout_ms: -5 }) },
  { kind: 'timeout-huge', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', timeout_ms: 3_600_001 }) },
  { kind: 'station-number', expect: 400, make: postJson({ type: 'START_CHARGING', station_id: 7 }) },
  // Unknown fields and types
  { kind: 'unknown-field', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', speed: 5 }) },
  { kind: 'unknown-field-proto', expect: 400, make: post('{"__proto__":{"admin":true},"type":"EMERGENCY_STOP"}') },
  { kind: 'unknown-field-constructor', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', constructor: { prototype: {} } }) },
  { kind: 'unknown-field-case', expect: 400, make: postJson({ Type: 'EMERGENCY_STOP' }) },
  { kind: 'unknown-field-empty', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', '': 1 }) },
  { kind: 'type-missing', expect: 400, make: postJson({ latitude: 40.7, longitude: -73.9 }) },
  { kind: 'type-unknown', expect: 400, make: postJson({ type: 'SELF_DESTRUCT' }) },
  { kind: 'type-empty', expect: 400, make: postJson({ type: '' }) },
  { kind: 'type-space', expect: 400, make: postJson({ type: 'EMERGENCY STOP' }) },
  { kind: 'type-nul', expect: 400, make: postJson({ type: 'EMERGENCY_STOP\u0000' }) },
  { kind: 'type-injection', expect: 400, make: postJson({ type: "RESUME'; DROP TABLE commands;--" }) },
  { kind: 'type-unicode', expect: 400, make: postJson({ type: 'ΕMERGENCY_STOP' }) },
  // Out-of-range or misplaced coordinates and stations
  { kind: 'latitude-90', expect: 400, make: postJson(REROUTE({ latitude: 90 })) },
  { kind: 'latitude-beyond-geo', expect: 400, make: postJson(REROUTE({ latitude: 85.0512 })) },
  { kind: 'latitude-minus-91', expect: 400, make: postJson(REROUTE({ latitude: -91 })) },
  { kind: 'longitude-180.0001', expect: 400, make: postJson(REROUTE({ longitude: 180.0001 })) },
  { kind: 'longitude-minus-181', expect: 400, make: postJson({ type: 'RETURN_TO_BASE', latitude: 40.7, longitude: -181 }) },
  { kind: 'latitude-1e308', expect: 400, make: postJson(REROUTE({ latitude: 1e308 })) },
  { kind: 'point-0-0', expect: 400, make: postJson(REROUTE({ latitude: 0, longitude: 0 })) },
  { kind: 'point-missing', expect: 400, make: postJson({ type: 'REROUTE' }) },
  { kind: 'longitude-missing', expect: 400, make: postJson({ type: 'RETURN_TO_BASE', latitude: 40.7 }) },
  { kind: 'point-on-stop', expect: 400, make: postJson({ type: 'EMERGENCY_STOP', latitude: 40.7, longitude: -73.9 }) },
  { kind: 'station-on-resume', expect: 400, make: postJson({ type: 'RESUME', station_id: 'ST-001' }) },
  { kind: 'station-on-reroute', expect: 400, make: postJson(REROUTE({ station_id: 'ST-001' })) },
  { kind: 'station-missing', expect: 400, make: postJson({ type: 'START_CHARGING' }) },
  { kind: 'station-empty', expect: 400, make: postJson({ type: 'STOP_CHARGING', station_id: '' }) },
  { kind: 'station-traversal', expect: 400, make: postJson({ type: 'START_CHARGING', station_id: 'ST/../../etc' }) },
  { kind: 'station-long', expect: 400, make: postJson({ type: 'START_CHARGING', station_id: 'S'.repeat(65) }) },
  // Bodies over the limit: with a content-length, and streamed without one
  { kind: 'body-too-large', expect: 413, make: (ctx) => ({ method: 'POST', path: issuePath(ctx.car), body: json({ type: 'EMERGENCY_STOP' }).padEnd(ctx.maxBody + 1, ' ') }) },
  { kind: 'body-1MiB', expect: 413, make: (ctx) => ({ method: 'POST', path: issuePath(ctx.car), body: Buffer.alloc(1 << 20, 0x20) }) },
  { kind: 'body-too-large-chunked', expect: 413, make: (ctx) => ({ method: 'POST', path: issuePath(ctx.car), body: ' '.repeat(ctx.maxBody * 2), chunked: true }) },
  // Hostile ids in the path
  { kind: 'car-unknown', expect: 404, make: (ctx, i) => ({ method: 'POST', path: issuePath(`FUZZ-NEVER-SEEN-${i}`), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-dotdot', expect: 404, make: () => ({ method: 'POST', path: issuePath('..'), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-traversal-encoded', expect: 400, make: () => ({ method: 'POST', path: issuePath('..%2F..%2Fetc%2Fpasswd'), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-unicode-encoded', expect: 400, make: () => ({ method: 'POST', path: issuePath('CAR-%C3%A9%F0%9F%9A%97'), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-10kB', expect: 400, make: () => ({ method: 'POST', path: issuePath('C'.repeat(10_000)), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-65', expect: 400, make: () => ({ method: 'POST', path: issuePath('C'.repeat(65)), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-nul', expect: 400, make: () => ({ method: 'POST', path: issuePath('CAR-001%00'), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-newline', expect: 400, make: () => ({ method: 'POST', path: issuePath('CAR-001%0A%7B%22x%22%3A1%7D'), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-double-encoded', expect: 400, make: () => ({ method: 'POST', path: issuePath('%252E%252E'), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'car-bad-percent', expect: 400, make: () => ({ method: 'POST', path: issuePath('CAR-%ZZ'), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'command-unknown', expect: 404, make: (ctx, i) => ({ method: 'GET', path: `/v1/commands/00000000-0000-4000-8000-${String(i).padStart(12, '0')}` }) },
  { kind: 'command-dotdot', expect: 404, make: get('/v1/commands/..') },
  { kind: 'command-traversal-encoded', expect: 400, make: get('/v1/commands/..%2F..%2Fcars') },
  { kind: 'command-unicode-encoded', expect: 400, make: get('/v1/commands/%E2%80%AE%F0%9F%92%A3') },
  { kind: 'command-10kB', expect: 400, make: get(`/v1/commands/${'9'.repeat(10_000)}`) },
  { kind: 'command-10kB-encoded', expect: 400, make: get(`/v1/commands/${'%41'.repeat(3_400)}`) },
  { kind: 'command-bad-percent', expect: 400, make: get('/v1/commands/%E9') },
  { kind: 'command-lone-percent', expect: 400, make: get('/v1/commands/abc%') },
  { kind: 'command-truncated-utf8', expect: 400, make: get('/v1/commands/%C3/wait') },
  { kind: 'list-bad-percent', expect: 400, make: get('/v1/cars/%ZZ/commands') },
  // Query parameters
  { kind: 'wait-timeout-text', expect: 400, make: get('/v1/commands/x/wait?timeout_ms=soon') },
  { kind: 'wait-timeout-negative', expect: 400, make: get('/v1/commands/x/wait?timeout_ms=-1') },
  { kind: 'wait-timeout-huge', expect: 400, make: get('/v1/commands/x/wait?timeout_ms=99999999999') },
  { kind: 'list-limit-0', expect: 400, make: (ctx) => ({ method: 'GET', path: `${issuePath(ctx.car)}?limit=0` }) },
  { kind: 'list-limit-51', expect: 400, make: (ctx) => ({ method: 'GET', path: `${issuePath(ctx.car)}?limit=51` }) },
  { kind: 'list-limit-fraction', expect: 400, make: (ctx) => ({ method: 'GET', path: `${issuePath(ctx.car)}?limit=1.5` }) },
  // Unknown paths
  { kind: 'path-unknown', expect: 404, make: get('/v1/vehicles/CAR-001/commands') },
  { kind: 'path-v2', expect: 404, make: get('/v2/commands/x') },
  { kind: 'path-empty-car', expect: 404, make: () => ({ method: 'POST', path: '/v1/cars//commands', body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'path-extra-segment', expect: 404, make: (ctx) => ({ method: 'POST', path: `${issuePath(ctx.car)}/extra`, body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'path-traversal', expect: 404, make: get('/v1/cars/../../etc/passwd') },
  { kind: 'path-double-slash', expect: 404, make: get('//v1/commands/x') },
  { kind: 'path-absolute-form', expect: 404, make: get('http://evil.example/v1/commands/x') },
  // Wrong methods
  { kind: 'method-put', expect: 405, make: (ctx) => ({ method: 'PUT', path: issuePath(ctx.car), body: json({ type: 'EMERGENCY_STOP' }) }) },
  { kind: 'method-delete', expect: 405, make: () => ({ method: 'DELETE', path: '/v1/commands/x' }) },
  { kind: 'method-patch', expect: 405, make: () => ({ method: 'PATCH', path: '/v1/commands/x', body: json({ status: 'SUCCEEDED' }) }) },
  { kind: 'method-post-wait', expect: 405, make: () => ({ method: 'POST', path: '/v1/commands/x/wait', body: '{}' }) },
  { kind: 'method-options', expect: 405, make: (ctx) => ({ method: 'OPTIONS', path: issuePath(ctx.car) }) },
  { kind: 'method-post-openapi', expect: 404, make: () => ({ method: 'POST', path: '/openapi.json', body: '{}' }) },
  // Tokens: missing, wrong, a vehicle's
  { kind: 'token-missing', expect: 401, make: as({})(postJson({ type: 'EMERGENCY_STOP' })) },
  { kind: 'token-wrong', expect: 401, make: as({ authorization: 'Bearer not-an-operator' })(postJson({ type: 'EMERGENCY_STOP' })) },
  { kind: 'token-vehicle', expect: 401, make: (ctx, i) => ({ ...postJson({ type: 'EMERGENCY_STOP' })(ctx, i), auth: false, headers: { authorization: `Bearer ${ctx.vehicleToken}` } }) },
  { kind: 'token-vehicle-grpc-header', expect: 401, make: (ctx, i) => ({ ...postJson({ type: 'EMERGENCY_STOP' })(ctx, i), auth: false, headers: { 'x-api-token': ctx.vehicleToken } }) },
  { kind: 'token-bearer-empty', expect: 401, make: as({ authorization: 'Bearer ' })(postJson({ type: 'EMERGENCY_STOP' })) },
  { kind: 'token-basic', expect: 401, make: as({ authorization: 'Basic b3BlcmF0b3I6b3BlcmF0b3I=' })(postJson({ type: 'EMERGENCY_STOP' })) },
  { kind: 'token-10kB', expect: 401, make: as({ authorization: `Bearer ${'t'.repeat(10_000)}` })(get('/v1/commands/x')) },
  { kind: 'token-query-wrong', expect: 401, make: as({})(get('/v1/commands/x?token=guess')) },
  { kind: 'token-query-bad-percent', expect: 401, make: as({})(get('/v1/commands/x?token=%ZZ')) },
  { kind: 'token-cookie-wrong', expect: 401, make: as({ cookie: 'greenlane_operator=guess' })(get('/v1/commands/x/wait?timeout_ms=0')) },
  { kind: 'token-cookie-bad-percent', expect: 401, make: as({ cookie: 'greenlane_operator=%E9%ZZ' })(get('/v1/commands/x')) },
  { kind: 'token-case-variant', expect: 401, make: (ctx, i) => ({ ...postJson({ type: 'EMERGENCY_STOP' })(ctx, i), auth: false, headers: { authorization: `Bearer ${ctx.token.toUpperCase()}` } }) },
];

/** The i-th hostile request to the command API, with what it must be answered. */
export function commandApiRequest(i, ctx) {
  const c = COMMAND_API_CASES[i % COMMAND_API_CASES.length];
  const r = c.make(ctx, i);
  const headers = { ...(r.auth === false ? {} : { authorization: `Bearer ${ctx.token}` }), ...(r.headers ?? {}) };
  if (r.body !== undefined) headers['content-type'] ??= 'application/json';
  return { kind: c.kind, expect: c.expect, method: r.method, path: r.path, headers, body: r.body, chunked: r.chunked === true };
}
