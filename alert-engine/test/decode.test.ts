/** Raw fleet-events values → inputs (no servers). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEvent } from '../src/decode.js';
import { expired, offline, online, telemetry, wire } from './helpers.js';

test('telemetry, booking_expired, car_online and car_offline decode to what the builders made', () => {
  for (const input of [telemetry('D', 1, { stationId: 'S', charging: true, energyKwh: 2, pluggedInAt: 5, late: true }), telemetry('D', 2), expired('D', 3, 'BK'), offline('D', 4, 2), online('D', 5)]) {
    const decoded = decodeEvent(Buffer.from(wire(input)));
    assert.ok(decoded.ok, JSON.stringify(decoded));
    if (decoded.ok) assert.equal(decoded.input, input);
  }
});

test('the ingestion\'s car_offline as it sends it (held_by, a null last_seen)', () => {
  const decoded = decodeEvent(JSON.stringify({ event_type: 'car_offline', event_id: 'car_offline:C:5', car_id: 'C', timestamp: 5, instance: 'ing-1', reason: 'timeout', last_seen: null, held_by: 'ing-2' }));
  assert.equal(decoded, { ok: true, input: { kind: 'presence', eventId: 'car_offline:C:5', carId: 'C', ts: 5, online: false, instance: 'ing-1', reason: 'timeout', lastSeen: undefined, heldBy: 'ing-2' } });
});

test('every other event type is ignored, never an error (bookings confirmed or failed, connectivity, types added later)', () => {
  for (const type of ['booking_confirmed', 'booking_failed', 'car_connected', 'car_disconnected', 'command_status', 'something_new']) {
    assert.equal(decodeEvent(JSON.stringify({ event_type: type, car_id: 'X' })), { ok: false, ignored: true, type });
  }
});

test('malformed events are rejected with a reason naming what is wrong', () => {
  const cases: Array<[string | null, RegExp]> = [
    [null, /null record/],
    ['not json', /not JSON/],
    ['[1,2]', /not a JSON object/],
    ['{"car_id":"X"}', /event_type missing/],
    ['{"event_type":"telemetry","car_id":"","event_id":"e","timestamp":1}', /car_id=""/],
    ['{"event_type":"telemetry","car_id":"X","timestamp":1}', /event_id=undefined/],
    ['{"event_type":"car_offline","car_id":"CAR 1","event_id":"e","timestamp":1}', /car_id="CAR 1" is not a car id/],
    [JSON.stringify({ event_type: 'booking_expired', car_id: 'C'.repeat(65), event_id: 'e', timestamp: 1 }), /is not a car id/],
    ['{"event_type":"car_offline","car_id":"X","event_id":"e","timestamp":"soon"}', /timestamp="soon"/],
    ['{"event_type":"telemetry","car_id":"X","event_id":"e","timestamp":1,"lat":1,"lon":2,"battery":"full","velocity":0}', /battery="full"/],
  ];
  for (const [value, reason] of cases) {
    const decoded = decodeEvent(value);
    assert.ok(!decoded.ok && !decoded.ignored, String(value));
    if (!decoded.ok && !decoded.ignored) assert.match(decoded.reason, reason);
  }
});

test.run();
