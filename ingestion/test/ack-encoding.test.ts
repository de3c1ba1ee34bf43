import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BookingResponse, BookingStatus } from '@greenlane/common/gen/fleet/fleet';
import { serializeBookingResponse } from '../src/ack-encoding.js';

const plain = (carId: string, timestamp: number, status = BookingStatus.BOOKING_UNKNOWN): BookingResponse => ({
  bookingId: '', carId, stationId: '', status, message: '', timestamp, priceRate: 0, command: undefined,
});

test('byte for byte what BookingResponse.encode writes, plain acknowledgements and all the others', () => {
  const cases: BookingResponse[] = [
    plain('CAR-001', 1701532800000),
    plain('', 0),
    plain('C', 1),
    plain('X'.repeat(64), 127),
    plain('X'.repeat(200), 128),
    plain('é⚡東京', 2 ** 53 - 1),
    plain('CAR-2', 1701532800000, BookingStatus.BOOKING_CONFIRMED),
    plain('CAR-3', 1701532800000, BookingStatus.BOOKING_EXPIRED),
    plain('CAR-4', -5),
    { ...plain('CAR-5', 1701532800000, BookingStatus.BOOKING_FAILED), message: 'invalid latitude=91: must be a number from -90 to 90' },
    { ...plain('CAR-6', 1701532800000, BookingStatus.BOOKING_CONFIRMED), bookingId: 'b-1', stationId: 'ST-1', priceRate: 0.31 },
  ];
  for (let i = 0; i < 500; i++) cases.push(plain(`LOAD-${i}`, 1_700_000_000_000 + i * 7919));
  for (const r of cases) assert.equal([...serializeBookingResponse(r)], [...BookingResponse.encode(r).finish()], JSON.stringify(r));
});

test('what it writes decodes back to the same response', () => {
  const r = plain('CAR-001', 1701532800000);
  assert.equal(BookingResponse.decode(serializeBookingResponse(r)), r);
});

test.run();
