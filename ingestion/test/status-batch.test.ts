import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { StatusPacker, unpackStatuses } from '../src/status-batch.js';

const status = (i: number, extra: Partial<CarStatus> = {}): CarStatus => ({
  carId: `CAR-${i}`, latitude: 40.7 + i * 1e-6, longitude: -73.98 - i * 1e-7, batteryLevel: (i % 1000) / 10, velocity: i % 300,
  timestamp: 1_796_118_664_474 + i, stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined, ...extra,
});

test('what the storage thread unpacks is what the stream thread packed, but the booking request', () => {
  const packer = new StatusPacker();
  const sent: CarStatus[] = [];
  // More than the first capacity, so the numbers grow; charging and plugged-in ones among them.
  for (let i = 0; i < 1000; i++) {
    const s = i % 4 === 0 ? status(i, { stationId: `ST_${i}.a-b`, charging: i % 8 === 0, chargeEnergyKwh: i / 7, pluggedInAt: 1_796_118_000_000 + i }) : status(i);
    if (i % 5 === 0) s.bookingRequest = { carId: s.carId, stationId: '', expectedArrival: 0, batteryLevel: 9 };
    assert.is(packer.push(s), i);
    sent.push(s);
  }
  const packed = packer.pack();
  // Across a thread it is cloned, its numbers' buffer moved.
  const received = structuredClone(packed, { transfer: [packed.numbers.buffer as ArrayBuffer] });
  assert.equal(unpackStatuses(received), sent.map((s) => ({ ...s, bookingRequest: undefined })));
});

test('an empty station id and one batch of one', () => {
  const packer = new StatusPacker();
  packer.push(status(1));
  assert.equal(unpackStatuses(packer.pack()), [status(1)]);
});

test.run();
