/**
 * The wire form of a BookingResponse, written directly for the plain acknowledgement (a car id, a
 * status, a timestamp; every other field at its default), which is nearly every message the
 * service sends: ts-proto's generic writer grows a buffer per message, then grpc-js copies it.
 * Byte for byte what BookingResponse.encode writes (proto3: fields in number order, defaults
 * omitted); anything else goes through it.
 */
import { BookingResponse } from '@greenlane/common/gen/fleet/fleet';
import { varintSize, writeVarint } from './varint.js';

export function serializeBookingResponse(r: BookingResponse): Buffer {
  const plain =
    r.bookingId === '' && r.stationId === '' && r.message === '' && r.priceRate === 0 && r.command === undefined &&
    Number.isSafeInteger(r.timestamp) && r.timestamp >= 0 && Number.isInteger(r.status) && r.status >= 0;
  if (!plain) return Buffer.from(BookingResponse.encode(r).finish());
  const idBytes = Buffer.byteLength(r.carId, 'utf8');
  const size =
    (idBytes > 0 ? 1 + varintSize(idBytes) + idBytes : 0) +
    (r.status !== 0 ? 1 + varintSize(r.status) : 0) +
    (r.timestamp !== 0 ? 1 + varintSize(r.timestamp) : 0);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (idBytes > 0) {
    buf[at++] = 0x12; // field 2 (car_id), length-delimited
    at = writeVarint(buf, at, idBytes);
    at += buf.write(r.carId, at, idBytes, 'utf8');
  }
  if (r.status !== 0) {
    buf[at++] = 0x20; // field 4 (status), varint
    at = writeVarint(buf, at, r.status);
  }
  if (r.timestamp !== 0) {
    buf[at++] = 0x30; // field 6 (timestamp), varint
    writeVarint(buf, at, r.timestamp);
  }
  return buf;
}
