/**
 * Faster stand-ins for two modules of kafkajs's encoding, byte for byte what kafkajs writes: its
 * Record (the v2 record format inside a record batch, `recordBatch/record/v0`) and the batch's
 * CRC-32C (`recordBatch/crc32C`).
 *
 * Why: encoding a produce request costs kafkajs about 8.7 µs per 180-byte event (measured in
 * isolation, bench/kafka-encode.mjs), as much as the gRPC transport of the message: every record
 * gets its own zero-filled 512-byte Encoder, and every varint a Buffer.from of a temporary array
 * and 64-bit Long arithmetic. Here a record is one exact-size allocation (from Node's buffer pool)
 * written in place. Its CRC-32C goes a byte at a time (about 6 ns a byte under load) and allocates
 * a Uint32Array per call; here it goes 8 bytes at a time (slicing-by-8). The record's measure and
 * write are apart so that kafka-produce-request.ts writes records straight into its request;
 * kafka-codec-install.ts puts these in place of kafkajs's modules.
 */
import { varintSize, writeVarint } from './varint.js';

export type Bytes = Buffer | string | null | undefined;

export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, unknown>;
}

/** What kafkajs's record batch needs of a record: an Encoder-like `buf` and its `buffer`. */
export interface EncodedRecord {
  buf: Buffer;
  buffer: Buffer;
}

export type RecordEncoder = (record: RecordInput) => EncodedRecord;

/** Kafka's zig-zag varint of a 32-bit value, as kafkajs writes it. */
function zigZag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** Zig-zag of a 64-bit value, exact for |value| < 2^52 (every millisecond delta). */
function zigZag64(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function byteLength(value: Bytes): number {
  if (value == null) return -1;
  return Buffer.isBuffer(value) ? value.length : Buffer.byteLength(String(value), 'utf8');
}

function writeBytes(buf: Buffer, at: number, value: Bytes, length: number): number {
  at = writeVarint(buf, at, zigZag32(length));
  if (length <= 0) return at;
  if (Buffer.isBuffer(value)) value.copy(buf, at);
  else buf.write(String(value), at, length, 'utf8');
  return at + length;
}

/** The sizes a record's encoding is made of, measured before it is written. */
export interface RecordLayout {
  keyLength: number;
  valueLength: number;
  timestamp: number;
  offset: number;
  /** The zig-zagged length of the body, the record's first varint. */
  length: number;
  /** Every byte of the record, its length varint included. */
  size: number;
}

/** What `writeRecord` writes for `record`, with the given deltas (kafkajs's Record defaults them to 0). */
export function measureRecord(key: Bytes, value: Bytes, offsetDelta: number, timestampDelta: number): RecordLayout {
  const keyLength = byteLength(key);
  const valueLength = byteLength(value);
  const timestamp = zigZag64(timestampDelta);
  const offset = zigZag32(offsetDelta);
  const body =
    1 + varintSize(timestamp) + varintSize(offset) +
    varintSize(zigZag32(keyLength)) + Math.max(0, keyLength) +
    varintSize(zigZag32(valueLength)) + Math.max(0, valueLength) +
    1; // no headers: a varint 0
  const length = zigZag32(body);
  return { keyLength, valueLength, timestamp, offset, length, size: varintSize(length) + body };
}

/** Writes a record without headers at `at`, as measured; returns where it ends. */
export function writeRecord(buf: Buffer, at: number, key: Bytes, value: Bytes, m: RecordLayout): number {
  at = writeVarint(buf, at, m.length);
  buf[at++] = 0; // attributes
  at = writeVarint(buf, at, m.timestamp);
  at = writeVarint(buf, at, m.offset);
  at = writeBytes(buf, at, key, m.keyLength);
  at = writeBytes(buf, at, value, m.valueLength);
  buf[at++] = 0; // header count
  return at;
}

/** True when a record has headers, which only kafkajs's own encoder writes (GreenLane's never have any). */
export const hasHeaders = (headers: Record<string, unknown> | undefined): boolean => headers !== undefined && Object.keys(headers).length > 0;

/** The fast encoder; a record with headers goes to kafkajs's own. */
export function fastRecordEncoder(original: RecordEncoder): RecordEncoder {
  return (record) => {
    if (hasHeaders(record.headers)) return original(record);
    const { offsetDelta = 0, timestampDelta = 0, key, value } = record;
    const layout = measureRecord(key, value, offsetDelta, timestampDelta);
    const buf = Buffer.allocUnsafe(layout.size);
    writeRecord(buf, 0, key, value, layout);
    return { buf, buffer: buf };
  };
}

/** Records both encoders must agree on before the fast one is used. */
export const SAMPLE_RECORDS: RecordInput[] = [
  { offsetDelta: 0, timestampDelta: 0, key: 'CAR-001', value: '{"event_id":"x","car_id":"CAR-001","lat":40.7,"battery":85.3}' },
  { offsetDelta: 63, timestampDelta: 64, key: Buffer.from('CAR-002'), value: Buffer.from('é ⚡ 東京') },
  { offsetDelta: 300, timestampDelta: 1_700_000_000_123, key: null, value: 'v'.repeat(200) },
  { offsetDelta: 70_000, timestampDelta: -5, key: '', value: null },
  { offsetDelta: 1, timestampDelta: 2 ** 40 + 7, key: 'k', value: 'x'.repeat(20_000) },
];

/** True when `candidate` writes exactly what `original` writes for every sample record. */
export function agrees(original: RecordEncoder, candidate: RecordEncoder, samples: RecordInput[] = SAMPLE_RECORDS): boolean {
  return samples.every((r) => original(r).buffer.equals(candidate(r).buffer));
}

/** CRC-32C (Castagnoli) tables for slicing-by-8. */
const CRC_TABLE = (() => {
  const t = new Int32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i]! >>> 8) ^ t[t[(s - 1) * 256 + i]! & 0xff]!;
  return t;
})();

/** The CRC-32C of `buf`, unsigned, as kafkajs's `recordBatch/crc32C` gives it. */
export function crc32c(buf: Uint8Array): number {
  const t = CRC_TABLE;
  let crc = -1;
  let i = 0;
  const n = buf.length;
  for (; i + 8 <= n; i += 8) {
    crc ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    const hi = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    crc =
      t[1792 + (crc & 0xff)]! ^ t[1536 + ((crc >>> 8) & 0xff)]! ^ t[1280 + ((crc >>> 16) & 0xff)]! ^ t[1024 + (crc >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^ t[512 + ((hi >>> 8) & 0xff)]! ^ t[256 + ((hi >>> 16) & 0xff)]! ^ t[hi >>> 24]!;
  }
  for (; i < n; i++) crc = t[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Buffers both CRC implementations must agree on: every length up to a few slices, and larger. */
export const SAMPLE_BUFFERS: Buffer[] = [
  ...Array.from({ length: 40 }, (_, n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + n * 7) & 0xff))),
  Buffer.from('123456789'),
  Buffer.alloc(4096, 0xa5),
];
