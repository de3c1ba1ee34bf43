import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseEvent, type BookingView, type TelemetryView } from '../src/event.js';
import { batteryMarker, bookingLine, colorEnabled, eventLine, formatDuration, statusLine, telemetryLine } from '../src/render.js';

const render = suite('render');
const PLAIN = { color: false, utc: true };
const COLOR = { color: true, utc: true };
// 2023-12-02T20:15:32Z
const T = Date.UTC(2023, 11, 2, 20, 15, 32);

function telemetry(over: Partial<TelemetryView> = {}): TelemetryView {
  return { kind: 'telemetry', carId: 'CAR-001', lat: 40.7234, lon: -73.9876, battery: 85.3, velocity: 45.2, timestamp: T, ...over };
}

render('the exact contract line, colors off', () => {
  assert.is(telemetryLine(telemetry(), PLAIN), '[20:15:32] 🟢 CAR-001    | Battery:  85.3% | Location: (40.7234, -73.9876) | Speed: 45.2 km/h');
  assert.is(
    telemetryLine(telemetry({ carId: 'CAR-003', battery: 12.1, lat: 40.7123, lon: -73.9987, velocity: 8.3 }), PLAIN),
    '[20:15:32] 🔴 CAR-003    | Battery:  12.1% | Location: (40.7123, -73.9987) | Speed:  8.3 km/h  CRITICAL BATTERY!',
  );
});

render('numbers are rounded and padded as the contract shows', () => {
  assert.is(
    telemetryLine(telemetry({ battery: 100, velocity: 0, lat: 40.7, lon: -74.02 }), PLAIN),
    '[20:15:32] 🟢 CAR-001    | Battery: 100.0% | Location: (40.7000, -74.0200) | Speed:  0.0 km/h',
  );
  assert.match(telemetryLine(telemetry({ battery: 5.04 }), PLAIN), ' | Battery:   5.0% | ');
});

render('markers: 🟢 above 50, 🟡 20–50, 🔴 below 20; CRITICAL below 15', () => {
  assert.is(batteryMarker(50.1), '🟢');
  assert.is(batteryMarker(50), '🟡');
  assert.is(batteryMarker(20), '🟡');
  assert.is(batteryMarker(19.99), '🔴');
  assert.not.match(telemetryLine(telemetry({ battery: 15 }), PLAIN), 'CRITICAL');
  assert.match(telemetryLine(telemetry({ battery: 14.99 }), PLAIN), /🔴 .*  CRITICAL BATTERY!$/);
  assert.not.match(telemetryLine(telemetry({ battery: 19 }), PLAIN), 'CRITICAL');
});

render('colors on: ANSI styles around the parts, same text underneath', () => {
  const colored = telemetryLine(telemetry({ battery: 12.1 }), COLOR);
  assert.match(colored, '\x1b[');
  assert.match(colored, '\x1b[31m 12.1%\x1b[0m');
  assert.match(colored, '\x1b[1m\x1b[31mCRITICAL BATTERY!\x1b[0m');
  // eslint-disable-next-line no-control-regex
  assert.is(colored.replace(/\x1b\[[0-9;]*m/g, ''), telemetryLine(telemetry({ battery: 12.1 }), PLAIN));
  assert.match(telemetryLine(telemetry({ battery: 60 }), COLOR), '\x1b[32m 60.0%');
  assert.match(telemetryLine(telemetry({ battery: 30 }), COLOR), '\x1b[33m 30.0%');
  assert.not.match(telemetryLine(telemetry(), PLAIN), '\x1b');
});

render('colors follow the terminal and NO_COLOR', () => {
  assert.is(colorEnabled({}, true), true);
  assert.is(colorEnabled({ NO_COLOR: '1' }, true), false);
  assert.is(colorEnabled({ NO_COLOR: '' }, true), false);
  assert.is(colorEnabled({}, false), false);
});

render('booking events have their own style', () => {
  const base: BookingView = { kind: 'booking_confirmed', carId: 'CAR-003', bookingId: '5f0c1d2e-aaaa', stationId: 'ST-017', priceRate: 0.31, timestamp: T };
  assert.is(bookingLine(base, PLAIN), '[20:15:32] 🔌 CAR-003    | BOOKING CONFIRMED | Station: ST-017 | Rate: $0.310/kWh | Booking: 5f0c1d2e');
  assert.is(
    bookingLine({ ...base, kind: 'booking_failed', bookingId: '', stationId: '', message: 'no free slot within 3 km' }, PLAIN),
    '[20:15:32] ⛔ CAR-003    | BOOKING FAILED  no free slot within 3 km',
  );
  assert.is(bookingLine({ ...base, kind: 'booking_expired' }, PLAIN), '[20:15:32] ⌛ CAR-003    | BOOKING EXPIRED | Station: ST-017 | Booking: 5f0c1d2e');
  assert.match(bookingLine(base, COLOR), '\x1b[36m\x1b[1mBOOKING CONFIRMED');
});

render('events are read from the contract JSON; unreadable ones are refused', () => {
  const line = eventLine(
    parseEvent('{"car_id":"CAR-001","lat":40.7234,"lon":-73.9876,"battery":85.3,"velocity":45.2,"timestamp":1701548132000,"event_type":"telemetry","extra":1}')!,
    PLAIN,
  );
  assert.is(line, '[20:15:32] 🟢 CAR-001    | Battery:  85.3% | Location: (40.7234, -73.9876) | Speed: 45.2 km/h');
  assert.is(parseEvent('not json'), undefined);
  assert.is(parseEvent('{"car_id":"CAR-001","event_type":"telemetry","timestamp":1}'), undefined);
  assert.is(parseEvent('{"car_id":"CAR-001","event_type":"something_new","timestamp":1}'), undefined);
  assert.is((parseEvent('{"car_id":"CAR-1","event_type":"booking_failed","timestamp":1,"battery":9}') as BookingView | undefined)?.battery, 9);
});

render('status line: events/s, cars, alerts, uptime, and sampling when it happens', () => {
  const s = statusLine({ eventsPerSec: 50123.4, carsSeen: 10000, alerts: 12, uptimeMs: 3_723_000, shownPerSec: 25, sampledPerSec: 50098 }, false);
  assert.is(s, '── 50,123 events/s │ 10,000 cars │ 12 alerts │ up 01:02:03 │ sampling: showing 25/s of 50,123/s');
  assert.not.match(statusLine({ eventsPerSec: 3, carsSeen: 1, alerts: 0, uptimeMs: 0, shownPerSec: 3, sampledPerSec: 0 }, false), 'sampling');
  assert.is(formatDuration(59_999), '00:00:59');
});

render.run();
